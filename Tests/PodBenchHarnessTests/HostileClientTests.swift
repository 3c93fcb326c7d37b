import Foundation
import Glibc
import PodBenchCore
import PodBenchTestSupport
import PodBenchTransports
import Synchronization
import SystemPackage
import Testing

@testable import PodBenchHarness

/// A client with bad intent: it speaks the control protocol from its documentation
/// (docs/control-protocol.md), frame bytes and JSON by hand, never through podbench's client.
final class HostileClient {
    let fd: Int32
    /// Why the last read came back short: the end of the stream, or an errno (for a failure's text).
    private(set) var lastFailure = ""

    init(_ address: SocketAddress, receiveTimeoutNanoseconds: UInt64 = 600_000_000_000) throws {
        let socket = try FileDescriptor.streamSocket(family: address.family)
        try socket.connect(to: address)
        try socket.setIOTimeout(nanoseconds: receiveTimeoutNanoseconds)
        fd = socket.rawValue
    }

    deinit { Glibc.close(fd) }

    /// A frame: "PBCT", this build's protocol version little-endian (a frame of another version is
    /// refused before anything it says is looked at), two zero bytes, the body's length, the body.
    static func frame(_ json: String, version: UInt16 = PodBenchVersion.controlProtocol) -> [UInt8] {
        let body = Array(json.utf8)
        let n = UInt32(body.count)
        return Array("PBCT".utf8) + [UInt8(version & 0xFF), UInt8(version >> 8), 0, 0]
            + [UInt8(n & 0xFF), UInt8(n >> 8 & 0xFF), UInt8(n >> 16 & 0xFF), UInt8(n >> 24)] + body
    }

    static func hello(token: String?) -> String {
        let field = token.map { #","token":"\#($0)""# } ?? ""
        return #"{"hello":{"_0":{"podbenchVersion":"hostile"\#(field)}}}"#
    }

    /// A case through a hop; `listen` and `via` as the command line writes them.
    static func prepare(transport: String, listen: String, via: String = "tcp:127.0.0.1:9") -> String {
        prepare(transport: transport, listenJSON: hop(listen), viaJSON: hop(via))
    }

    /// A case through a hop, its endpoints as raw JSON.
    static func prepare(transport: String, listenJSON: String, viaJSON: String = #"{"socket":"tcp:127.0.0.1:9"}"#)
        -> String
    {
        #"{"prepareCase":{"_0":{"transport":"\#(transport)","workload":"pingpong","messageSize":64,"options":{"listen":\#(listenJSON),"via":\#(viaJSON)},"verifyEvery":1,"seed":1}}}"#
    }

    /// A hop endpoint as the protocol writes it (docs/control-protocol.md): `{"file":"/dir"}`,
    /// `{"socket":"unix:/path"}`.
    static func hop(_ text: String) -> String {
        for (prefix, key) in [("file:", "file"), ("shm:", "shm"), ("fifo:", "fifo")] where text.hasPrefix(prefix) {
            return #"{"\#(key)":"\#(text.dropFirst(prefix.count))"}"#
        }
        return #"{"socket":"\#(text)"}"#
    }

    /// Sends bytes; false once the server has closed the connection.
    @discardableResult
    func send(_ bytes: [UInt8]) -> Bool {
        // EINTR retried: the test process's children (end-to-end tests) end with SIGCHLD, which
        // interrupts a socket call with a timeout even under SA_RESTART (signal(7)).
        var sent = 0
        while sent < bytes.count {
            let n = bytes.withUnsafeBytes {
                Glibc.send(fd, $0.baseAddress! + sent, $0.count - sent, Int32(MSG_NOSIGNAL))
            }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { return false }
            sent += n
        }
        return true
    }

    /// Reads one frame's JSON body, or nil when the server closed the connection.
    func receive() -> String? {
        guard let header = read(12), Array(header[0..<4]) == Array("PBCT".utf8) else { return nil }
        let n = Int(header[8]) | Int(header[9]) << 8 | Int(header[10]) << 16 | Int(header[11]) << 24
        guard n <= 1 << 20, let body = read(n) else { return nil }
        return String(decoding: body, as: UTF8.self)
    }

    /// Whether the server has closed its end (reads until end of stream, discarding frames).
    func closedByServer() -> Bool {
        var byte: UInt8 = 0
        while true {
            let n = recv(fd, &byte, 1, 0)
            if n < 0 && errno == EINTR { continue }
            if n == 0 { return true }
            if n < 0 { return errno == ECONNRESET }
        }
    }

    private func read(_ count: Int) -> [UInt8]? {
        var bytes = [UInt8](repeating: 0, count: count)
        var got = 0
        while got < count {
            let n = bytes.withUnsafeMutableBytes { recv(fd, $0.baseAddress! + got, count - got, 0) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                lastFailure =
                    n == 0 ? "end of stream after \(got) of \(count) bytes" : "errno \(errno) after \(got) bytes"
                return nil
            }
            got += n
        }
        return bytes
    }
}

/// A server with a victim tree beside its directories: what hostile clients try, what they get.
final class HostileTestServer: @unchecked Sendable {
    let root: String
    let shared: String
    let shm: String
    let victim: String
    let tokenFile: String
    let token: ControlToken
    let server: BenchmarkServer
    let serving: Background
    let control: SocketAddress
    let timeoutNanoseconds: UInt64

    init(
        timeoutNanoseconds: UInt64 = 600_000_000_000, maximumWaiting: Int = 8, hopTargets: [String] = [],
        abstractControl: Bool = false
    ) throws {
        root = NSTemporaryDirectory() + "podbench-hostile-\(UUID().uuidString.prefix(8))"
        shared = root + "/shared"
        shm = root + "/shm"
        victim = root + "/victim"
        for directory in [shared, shm, victim, victim + "/podbench-x.file", victim + "/dir"] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        // What an attacker would like gone or changed: a private file, a ring file, a file
        // connection's folder, and names a server would make.
        for (name, mode) in [
            ("secret", 0o600), ("podbench-old.ring", 0o666), ("podbench-x.file/segment", 0o644),
            ("control.sock", 0o600), ("dir/podbench-a-00000001.sock", 0o644),
        ] {
            _ = FileManager.default.createFile(
                atPath: victim + "/" + name, contents: Data("victim \(name)\n".utf8),
                attributes: [.posixPermissions: mode])
        }
        tokenFile = shared + "/podbench.token"
        token = try ControlToken.loadOrCreate(path: tokenFile).token
        control =
            abstractControl
            ? .unixAbstract("podbench-hostile-\(UUID().uuidString.prefix(8))") : .unixPath(shared + "/control.sock")
        self.timeoutNanoseconds = timeoutNanoseconds
        server = BenchmarkServer(
            configuration: .init(
                control: control, sharedDirectory: shared, peerTimeoutNanoseconds: timeoutNanoseconds, cpu: nil,
                sharedMemoryDirectory: shm, token: token,
                hopTargets: try hopTargets.map { try HopEndpoint(parsing: $0) }, maximumWaiting: maximumWaiting),
            log: { _ in })
        try server.bind()
        let server = self.server
        serving = Background { try server.serve() }
    }

    /// Every file under the victim folder with its type, mode and bytes.
    func victimTree() -> [String: String] {
        var tree: [String: String] = [:]
        let enumerator = FileManager.default.enumerator(atPath: victim)
        while let name = enumerator?.nextObject() as? String {
            let path = victim + "/" + name
            var info = stat()
            guard lstat(path, &info) == 0 else { continue }
            let bytes = (try? Data(contentsOf: URL(fileURLWithPath: path))).map { String(decoding: $0, as: UTF8.self) }
            tree[name] = "\(info.st_mode) \(bytes ?? "-")"
        }
        return tree
    }

    /// podbench's own client runs one case: the server still serves.
    func realClientRuns() throws -> Bool {
        let client = BenchmarkClient(
            configuration: .init(
                control: control, trials: 1, warmup: PhasePlan(durationNanoseconds: 0, messageLimit: nil),
                trial: PhasePlan(durationNanoseconds: 0, messageLimit: 20), peerTimeoutNanoseconds: 600_000_000_000,
                clientCPU: nil, serverCPU: nil, connectWaitNanoseconds: 2_000_000_000, tokenFile: tokenFile),
            log: { _ in })
        try client.start()
        defer { client.finish(shutdown: false) }
        let result = try client.runCase(CaseSpec(transport: .uds, workload: .pingpong, messageSize: 64))
        return result.status == .ok && result.trials.count == 1
    }

    func stop() throws {
        let client = try HostileClient(control)
        client.send(HostileClient.frame(HostileClient.hello(token: token.text)))
        _ = client.receive()
        client.send(HostileClient.frame(#"{"shutdown":{}}"#))
        // Without its bye the server is still serving: waiting for it would hang the test run.
        let answer = client.receive()
        guard answer?.contains("bye") == true else {
            throw PodBenchError(.protocolViolation, "the test server did not stop; it answered \(answer ?? "nothing")")
        }
        try serving.wait()
        try? FileManager.default.removeItem(atPath: root)
    }
}

@Suite("serve against hostile clients")
struct HostileClientTests {
    @Test("no request is served before a hello with the right token, not even shutdown")
    func unauthenticated() throws {
        let server = try HostileTestServer()
        let before = server.victimTree()
        for (opening, expected) in [
            (HostileClient.hello(token: nil), "the control token is missing"),
            (HostileClient.hello(token: "0123456789abcdef0123456789abcdef"), "the control token is wrong"),
            (HostileClient.hello(token: String(server.token.text.dropLast()) + "x"), "the control token is wrong"),
            (#"{"shutdown":{}}"#, "a session begins with hello; got shutdown"),
            (HostileClient.prepare(transport: "uds", listen: "unix:\(server.victim)/secret"), "begins with hello"),
        ] {
            let client = try HostileClient(server.control)
            client.send(HostileClient.frame(opening))
            let answer = try #require(client.receive(), "no answer to \(opening): \(client.lastFailure)")
            #expect(answer.contains("failure") && answer.contains(expected), "\(answer)")
            // The connection is closed, so nothing sent after a refused hello is read.
            client.send(HostileClient.frame(#"{"shutdown":{}}"#))
            #expect(client.closedByServer())
        }
        #expect(server.victimTree() == before)
        #expect(try server.realClientRuns())
        try server.stop()
    }

    @Test("a client cannot make the server listen, create, sweep or unlink outside its directories")
    func pathsAreTheServers() throws {
        let server = try HostileTestServer()
        let before = server.victimTree()
        let victim = server.victim
        let attempts: [(String, String)] = [
            ("uds", "unix:\(victim)/secret"), ("uds", "unix:\(victim)/control.sock"),
            ("uds", "unix:\(victim)/new/deeper/x.sock"), ("uds-abstract", "unix:@podbench-hostile"),
            ("shm", "shm:\(victim)"), ("shm", "shm:\(victim)/made-by-attacker"),
            ("file", "file:\(victim)"), ("file", "file:\(victim)/dir"), ("fifo", "fifo:\(victim)"),
            ("tcp", "tcp:0.0.0.0:0"), ("tcp", "tcp:127.0.0.1:0"),
        ]
        let client = try HostileClient(server.control)
        client.send(HostileClient.frame(HostileClient.hello(token: server.token.text)))
        #expect(try #require(client.receive()).contains("welcome"))
        for (transport, listen) in attempts {
            client.send(HostileClient.frame(HostileClient.prepare(transport: transport, listen: listen)))
            let answer = try #require(client.receive(), "the server dropped the session at \(listen)")
            #expect(answer.contains("failure") && answer.contains("not started for a hop"), "\(listen): \(answer)")
        }
        client.send(HostileClient.frame(#"{"bye":{}}"#))
        #expect(server.victimTree() == before)
        #expect(!FileManager.default.fileExists(atPath: victim + "/new"))
        #expect(!FileManager.default.fileExists(atPath: victim + "/made-by-attacker"))
        #expect(try server.realClientRuns())
        try server.stop()
    }

    @Test("hop endpoints that do not decode are refused, naming the field, and touch nothing")
    func malformedHopEndpoints() throws {
        let server = try HostileTestServer(hopTargets: ["file:" + NSTemporaryDirectory() + "podbench-never"])
        let before = server.victimTree()
        let victim = server.victim
        let attempts = [
            #"{"file":"relative/dir"}"#, #"{"file":""}"#, #"{"shm":"\#(victim)","file":"\#(victim)"}"#, "{}",
            #"{"door":"\#(victim)"}"#, #"{"socket":"unix:"}"#, #"{"socket":5}"#, #"{"socket":{"unix":"/x"}}"#,
            #""file:\#(victim)""#, "null", "[]", #"{"fifo":"\#(victim)\u0000/x"}"#,
        ]
        for json in attempts {
            let client = try HostileClient(server.control)
            client.send(HostileClient.frame(HostileClient.hello(token: server.token.text)))
            #expect(
                try #require(client.receive(), "no welcome before \(json): \(client.lastFailure)").contains("welcome"))
            client.send(HostileClient.frame(HostileClient.prepare(transport: "file", listenJSON: json)))
            let answer = try #require(client.receive(), "no answer to \(json)")
            #expect(answer.contains("failure") && !answer.contains("caseReady"), "\(json): \(answer)")
        }
        #expect(server.victimTree() == before)
        #expect(try server.realClientRuns())
        try server.stop()
    }

    @Test("a hop target the server was started for is the one place besides its own it listens")
    func startedHopTarget() throws {
        let target = NSTemporaryDirectory() + "podbench-hop-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: target) }
        let server = try HostileTestServer(timeoutNanoseconds: 60_000_000_000, hopTargets: ["file:" + target])
        let client = try HostileClient(server.control)
        client.send(HostileClient.frame(HostileClient.hello(token: server.token.text)))
        #expect(try #require(client.receive()).contains("welcome"))
        // Another directory, even one inside the target, is refused.
        client.send(HostileClient.frame(HostileClient.prepare(transport: "file", listen: "file:\(target)/x")))
        let inner = try #require(client.receive())
        #expect(inner.contains("not started for a hop"), "\(inner)")
        client.send(HostileClient.frame(HostileClient.prepare(transport: "file", listen: "file:" + target)))
        let answer = try #require(client.receive()).replacingOccurrences(of: "\\/", with: "/")
        #expect(answer.contains("caseReady") && answer.contains(target), "\(answer)")
        // Connect where it listens, so that it need not wait out its timeout for a connection.
        let prefix = #""endpoint":{"file":{"path":""#
        let start = try #require(answer.range(of: prefix)).upperBound
        let path = String(answer[start...].prefix { $0 != "\"" })
        #expect(path.hasPrefix(target + "/"), "\(path)")
        let channel = try FileTransport.connect(
            path: path, settings: try TransportOptions().fileSettings(), timeoutNanoseconds: server.timeoutNanoseconds)
        defer { channel.close() }
        client.send(HostileClient.frame(#"{"bye":{}}"#))
        try server.stop()
    }

    @Test("a client that trickles its hello is dropped within the timeout while others are served")
    func slowClient() throws {
        let server = try HostileTestServer(timeoutNanoseconds: 3_000_000_000)
        let slow = try HostileClient(server.control)
        let frame = HostileClient.frame(HostileClient.hello(token: server.token.text))
        // One byte every 100 ms would take the frame's length / 10 seconds (> 10 s, over three times
        // the timeout), and no read waits longer than 100 ms: only a deadline for the whole message
        // ends it. A real client is served meanwhile, on another thread.
        #expect(frame.count >= 100)
        let servedMeanwhile = Mutex(false)
        let real = Background { servedMeanwhile.withLock { $0 = (try? server.realClientRuns()) == true } }
        var sent = 0
        while sent < frame.count, slow.send([frame[sent]]) {
            sent += 1
            usleep(100_000)
        }
        try real.wait()
        #expect(servedMeanwhile.withLock { $0 }, "a real client waited behind a trickling one")
        #expect(sent < frame.count, "the server read the whole trickled hello")
        #expect(slow.closedByServer())
        try server.stop()
    }

    @Test("idle connections without the token cost a real client nothing: the oldest makes way")
    func idleConnections() throws {
        let server = try HostileTestServer(timeoutNanoseconds: 600_000_000_000, maximumWaiting: 3)
        let idle = try (0..<10).map { _ in try HostileClient(server.control) }
        // Ten idle connections against three places, each allowed 30 s to say hello: the real
        // client gets in at once because the oldest silent ones are dropped to make room.
        #expect(try server.realClientRuns())
        #expect(idle[0].closedByServer())
        try server.stop()
    }

    @Test("beyond the bound of authenticated clients waiting, the next is told the server is busy")
    func busy() throws {
        let server = try HostileTestServer(timeoutNanoseconds: 600_000_000_000, maximumWaiting: 3)
        let hello = HostileClient.frame(HostileClient.hello(token: server.token.text))
        // One session being served, three authenticated clients queued behind it.
        let holder = try HostileClient(server.control)
        holder.send(hello)
        #expect(try #require(holder.receive()).contains("welcome"))
        var queued: [HostileClient] = []
        var answer: String?
        for _ in 0..<200 {
            let next = try HostileClient(server.control, receiveTimeoutNanoseconds: 200_000_000)
            next.send(hello)
            answer = next.receive()
            if answer != nil { break }
            queued.append(next)
        }
        #expect(queued.count >= 3)
        #expect(answer?.contains("the server is busy") == true, "\(answer ?? "")")
        queued.removeAll()
        holder.send(HostileClient.frame(#"{"bye":{}}"#))
        var served = false
        for _ in 0..<200 where !served {
            served = (try? server.realClientRuns()) == true
            if !served { usleep(10_000) }
        }
        #expect(served)
        try server.stop()
    }

    @Test("frames that lie about themselves drop that client only")
    func lyingFrames() throws {
        let server = try HostileTestServer()
        let bad: [[UInt8]] = [
            Array("GET / HTTP/1.1\r\n\r\n".utf8),
            HostileClient.frame(HostileClient.hello(token: server.token.text), version: 1),
            Array("PBCT".utf8) + [2, 0, 0, 0, 0xFF, 0xFF, 0xFF, 0x7F],
            HostileClient.frame(#"{"hello":{"_0":{"podbenchVersion":1}}}"#),
            HostileClient.frame(String(repeating: "[", count: 100_000)),
        ]
        for bytes in bad {
            let client = try HostileClient(server.control)
            client.send(bytes)
            #expect(client.closedByServer())
        }
        #expect(try server.realClientRuns())
        try server.stop()
    }

    @Test("a Unix control socket is private to the server's user")
    func controlSocketMode() throws {
        let server = try HostileTestServer()
        var info = stat()
        guard case .unixPath(let path) = server.control else { return }
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & 0o777 == 0o600)
        try server.stop()
    }
}

@Suite("serve against another user")
struct OtherUserTests {
    /// Runs a Python client as uid/gid 65534 (nobody) that connects to `address` (a path, or
    /// "@NAME" for an abstract socket), sends `frame` and prints what came back or why not.
    static func asNobody(address: String, frame: [UInt8]) throws -> String {
        let script = """
            import socket, sys
            address = sys.argv[1]
            if address.startswith("@"): address = "\\0" + address[1:]
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(20)
            try:
                s.connect(address)
            except OSError as e:
                print("connect failed:", e.errno); sys.exit(0)
            s.sendall(bytes.fromhex(sys.argv[2]))
            data = b""
            while True:
                chunk = s.recv(65536)
                if not chunk: break
                data += chunk
            print(data[12:].decode(errors="replace"))
            """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = [
            "--reuid=65534", "--regid=65534", "--clear-groups", "/usr/bin/python3", "-c", script, address,
            frame.map { String(format: "%02x", $0) }.joined(),
        ]
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return String(decoding: data, as: UTF8.self)
    }

    @Test(
        "a client of another uid can do nothing, even holding the token",
        .enabled(
            if: geteuid() == 0 && FileManager.default.isExecutableFile(atPath: "/usr/bin/setpriv")
                && FileManager.default.isExecutableFile(atPath: "/usr/bin/python3")))
    func otherUser() throws {
        for abstract in [false, true] {
            let server = try HostileTestServer(abstractControl: abstract)
            let before = server.victimTree()
            let frame =
                HostileClient.frame(HostileClient.hello(token: server.token.text))
                + HostileClient.frame(#"{"shutdown":{}}"#)
            let address: String
            switch server.control {
            case .unixPath(let path): address = path
            case .unixAbstract(let name): address = "@" + name
            default: return
            }
            let answer = try Self.asNobody(address: address, frame: frame)
            if abstract {
                #expect(answer.contains("uid 65534 may not use a podbench server of uid 0"), "\(answer)")
            } else {
                #expect(answer.contains("connect failed: 13"), "\(answer)")  // EACCES: the socket is 0600
            }
            #expect(server.victimTree() == before)
            #expect(try server.realClientRuns())
            try server.stop()
        }
    }
}

@Suite("control token files")
struct ControlTokenTests {
    @Test(
        "a token planted as a link to another user's file is refused, and nothing is written through it",
        .enabled(if: geteuid() == 0))
    func plantedLink() throws {
        let directory = NSTemporaryDirectory() + "podbench-token-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        // The attacker (uid 65534) owns a 0600 file with a token it knows, and links the token's name to it.
        let known = directory + "/known"
        _ = FileManager.default.createFile(
            atPath: known, contents: Data("attacker-knows-this-token\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(chown(known, 65534, 65534) == 0)
        try FileManager.default.createSymbolicLink(atPath: directory + "/podbench.token", withDestinationPath: known)
        #expect {
            try ControlToken.loadOrCreate(path: directory + "/podbench.token")
        } throws: { ($0 as? PodBenchError)?.message.contains("belongs to uid 65534") == true }
        #expect(try String(contentsOfFile: known, encoding: .utf8) == "attacker-knows-this-token\n")
    }

    @Test("a token file others can read, or one too short, is refused; a new one is 0600 and random")
    func tokenFiles() throws {
        let directory = NSTemporaryDirectory() + "podbench-token-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let made = try ControlToken.loadOrCreate(path: directory + "/a")
        #expect(made.created && made.token.text.count == 64)
        var info = stat()
        #expect(stat(directory + "/a", &info) == 0 && info.st_mode & 0o777 == 0o600)
        #expect(try ControlToken.loadOrCreate(path: directory + "/a") == (made.token, false))
        #expect(try ControlToken.loadOrCreate(path: directory + "/b").token != made.token)

        _ = FileManager.default.createFile(
            atPath: directory + "/open", contents: Data("0123456789abcdef0123\n".utf8),
            attributes: [.posixPermissions: 0o644])
        #expect {
            try ControlToken.loadOrCreate(path: directory + "/open")
        } throws: { ($0 as? PodBenchError)?.message.contains("others may read or write it") == true }
        _ = FileManager.default.createFile(
            atPath: directory + "/short", contents: Data("abc\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(throws: PodBenchError.self) { try ControlToken.loadOrCreate(path: directory + "/short") }
        #expect(made.token.matches(made.token.text))
        #expect(!made.token.matches(made.token.text + "0"))
        #expect(!made.token.matches(String(made.token.text.dropLast())))
        #expect(!made.token.matches(nil))
    }
}
