import Foundation
import Glibc
import PodBenchCore
import PodBenchTransports
import SystemPackage

/// A real proxy as a child of `podbench run` (`--preset http-proxy=nginx|haproxy`): one process of
/// Debian's nginx or haproxy, configured here, listening on free loopback ports, one passing
/// bytes (TCP mode: nginx's stream module, haproxy's `mode tcp`) and one parsing HTTP (nginx's
/// `proxy_pass` with upstream keep-alive, haproxy's `mode http`), all forwarding to the server's
/// one port. nginx 1.22 takes HTTP/2 over cleartext on a port of its own (`listen … http2`), so its
/// HTTP mode has two ports, one for each version, both passed on to the server as HTTP/1.1; haproxy
/// tells the versions apart on one port and passes HTTP/2 on as HTTP/2. The modes are the run's
/// hops (`<kind>-tcp`, `<kind>-http`), each with the proxy's own CPU from /proc, so every HTTP case
/// is measured direct, through the proxy in TCP mode and in HTTP mode, back to back: what HTTP
/// parsing costs is the difference between the last two.
public final class ProxyLauncher: @unchecked Sendable {
    public enum Kind: String, Sendable {
        case nginx, haproxy
    }

    public let kind: Kind
    public let process = Process()
    /// TCP mode first, then HTTP mode (HTTP mode only when nginx has no stream module; nginx's
    /// HTTP mode is two hops of one name, HTTP/1.1's port and HTTP/2's).
    public private(set) var hops: [MatrixRunner.Hop] = []
    /// What the run should say before it starts (a mode it cannot measure here).
    public private(set) var notes: [String] = []
    let directory: String

    /// Where Debian installs them, then the PATH.
    public static func executable(_ kind: Kind) -> String? {
        let name = kind.rawValue
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        for dir in ["/usr/sbin", "/usr/local/sbin"] + path.split(separator: ":").map(String.init)
        where access("\(dir)/\(name)", X_OK) == 0 {
            return "\(dir)/\(name)"
        }
        return nil
    }

    /// nginx's stream module as Debian ships it (libnginx-mod-stream), loaded when present.
    public static let nginxStreamModule = "/usr/lib/nginx/modules/ngx_stream_module.so"

    /// Writes the configuration into `directory` (it must exist) and starts the proxy; returns
    /// when both ports accept connections.
    /// - Throws: `.unavailable` when the proxy is not installed, `.ioFailure` when it does not start.
    public init(kind: Kind, directory: String) throws {
        self.kind = kind
        self.directory = directory
        guard let executable = Self.executable(kind) else {
            throw PodBenchError(
                .unavailable,
                "--preset http-proxy=\(kind.rawValue) needs \(kind.rawValue), which is not installed: apt-get install \(kind == .nginx ? "nginx-light libnginx-mod-stream" : "haproxy") (scripts/setup.sh does it)"
            )
        }
        // The ports held at once while they are chosen, so they differ.
        let ports = try Self.freePorts(4)
        let (target, http, h2) = (ports[0], ports[1], ports[3])
        var tcp: UInt16? = ports[2]
        let config = directory + "/\(kind.rawValue).conf"
        let text: String
        switch kind {
        case .nginx:
            if access(Self.nginxStreamModule, R_OK) != 0 {
                tcp = nil
                notes.append(
                    "nginx has no stream module here (\(Self.nginxStreamModule); Debian's libnginx-mod-stream): nginx in TCP mode is not measured, only in HTTP mode"
                )
            }
            text = Self.nginxConfiguration(directory: directory, http: http, h2: h2, tcp: tcp, target: target)
            process.arguments = ["-c", config, "-e", directory + "/nginx-error.log"]
        case .haproxy:
            text = Self.haproxyConfiguration(http: http, tcp: tcp!, target: target)
            process.arguments = ["-db", "-f", config]
        }
        do {
            try text.write(toFile: config, atomically: true, encoding: .utf8)
        } catch {
            throw PodBenchError(.ioFailure, "cannot write \(config): \(error.localizedDescription)")
        }
        // Dies with run, however run ends (a kill -9 included), when setpriv is there to say so.
        if let setpriv = [String]([("/usr/bin/setpriv"), ("/bin/setpriv")]).first(where: { access($0, X_OK) == 0 }) {
            process.executableURL = URL(fileURLWithPath: setpriv)
            process.arguments = ["--pdeathsig", "KILL", "--", executable] + (process.arguments ?? [])
        } else {
            process.executableURL = URL(fileURLWithPath: executable)
        }
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = FileHandle.nullDevice
        let log = directory + "/\(kind.rawValue).log"
        _ = FileManager.default.createFile(atPath: log, contents: nil)
        process.standardError = FileHandle(forWritingAtPath: log)
        do {
            try process.run()
        } catch {
            throw PodBenchError(.ioFailure, "cannot start \(executable): \(error.localizedDescription)")
        }
        let stats = HopStatsSource.process(pid: process.processIdentifier)
        let server = HopEndpoint.socket(address: .ipv4(host: "127.0.0.1", port: target))
        func hop(_ mode: String, _ port: UInt16, _ workloads: [WorkloadKind]? = nil) -> MatrixRunner.Hop {
            MatrixRunner.Hop(
                via: .socket(address: .ipv4(host: "127.0.0.1", port: port)), listen: server,
                name: "\(kind.rawValue)-\(mode)", stats: stats, workloads: workloads)
        }
        hops = (tcp.map { [hop("tcp", $0)] } ?? [])
        if kind == .nginx {
            hops += [hop("http", http, Self.nginxHTTP1), hop("http", h2, Self.nginxHTTP2)]
        } else {
            hops.append(hop("http", http))
        }
        // Ready when every port accepts and the proxy still runs (one that failed to bind exits).
        let deadline = MonotonicClock.now() + 10_000_000_000
        func failed(_ what: String) -> PodBenchError {
            kill()
            let said = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
            return PodBenchError(
                .ioFailure,
                "\(kind.rawValue) \(what)\(said.isEmpty ? "" : ": " + TextEscaping.terminal(String(said.suffix(300))))")
        }
        for port in [tcp, http, kind == .nginx ? h2 : nil].compactMap({ $0 }) {
            while !Self.accepts(port) {
                guard process.isRunning, MonotonicClock.now() < deadline else {
                    throw failed("did not start listening on 127.0.0.1:\(port)")
                }
                usleep(10_000)
            }
        }
        // A proxy that could not bind one of them exits even if something else answers there.
        guard process.isRunning else { throw failed("exited as it started (status \(process.terminationStatus))") }
    }

    /// `count` loopback ports free a moment ago, all different.
    static func freePorts(_ count: Int) throws -> [UInt16] {
        var listeners: [SocketTransport.Listener] = []
        defer { listeners.forEach { $0.close() } }
        for _ in 0..<count {
            listeners.append(
                try SocketTransport.listen(kind: .tcp, options: TransportOptions(), sharedDirectory: "", name: ""))
        }
        return try listeners.map { try $0.descriptor.boundPort() }
    }

    static func accepts(_ port: UInt16) -> Bool {
        guard let fd = try? FileDescriptor.streamSocket(family: AF_INET) else { return false }
        defer { try? fd.close() }
        return (try? fd.connect(to: .ipv4(host: "127.0.0.1", port: port))) != nil
    }

    /// Why the proxy is gone, if it is: for an error of a run it broke.
    public var exitNote: String? {
        guard !process.isRunning else { return nil }
        return "\(kind.rawValue) exited with status \(process.terminationStatus)"
    }

    public func kill() {
        if process.isRunning {
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }

    /// The workloads nginx's HTTP/1.1 port carries, and its HTTP/2 port's (`listen … http2` speaks
    /// HTTP/2 only).
    public static let nginxHTTP1: [WorkloadKind] = [.http1, .http1Rate]
    public static let nginxHTTP2: [WorkloadKind] = [.http2, .http2Rate]

    /// nginx in one process (its CPU is the hop's), keep-alive both sides without a request limit,
    /// bodies up to 8 MiB, a request body buffered in memory up to 1 MiB (at the 16 KiB default a
    /// larger body goes through a temporary file and stalls 40 ms on Nagle: docs/http.md). HTTP/1.1
    /// on `http`, HTTP/2 over cleartext on `h2` (as many streams at once as a case may ask for),
    /// both passed on as HTTP/1.1 over up to 128 idle upstream connections kept (an HTTP/2 client's
    /// streams at once take as many).
    public static func nginxConfiguration(
        directory: String, http: UInt16, h2: UInt16, tcp: UInt16?, target: UInt16
    ) -> String {
        var text = tcp == nil ? "" : "load_module \(nginxStreamModule);\n"
        text += """
            master_process off;
            daemon off;
            pid \(directory)/nginx.pid;
            error_log \(directory)/nginx-error.log warn;
            events { worker_connections 256; }
            http {
                access_log off;
                client_body_temp_path \(directory)/nginx-body;
                proxy_temp_path \(directory)/nginx-proxy;
                fastcgi_temp_path \(directory)/nginx-fastcgi;
                uwsgi_temp_path \(directory)/nginx-uwsgi;
                scgi_temp_path \(directory)/nginx-scgi;
                upstream podbench { server 127.0.0.1:\(target); keepalive \(HTTP2Workload.maximumStreams); keepalive_requests 1000000; keepalive_time 1h; }
                keepalive_requests 1000000;
                keepalive_time 1h;
                client_max_body_size 8m;
                client_body_buffer_size 1m;
                http2_max_concurrent_streams \(HTTP2Workload.maximumStreams);
                proxy_http_version 1.1;
                proxy_set_header Connection "";
                proxy_max_temp_file_size 0;
                server {
                    listen 127.0.0.1:\(http);
                    location / { proxy_pass http://podbench; }
                }
                server {
                    listen 127.0.0.1:\(h2) http2;
                    location / { proxy_pass http://podbench; }
                }
            }

            """
        if let tcp {
            text += """
                stream {
                    server { listen 127.0.0.1:\(tcp); proxy_pass 127.0.0.1:\(target); }
                }

                """
        }
        return text
    }

    /// haproxy with a frontend and backend per mode, keep-alive and connection reuse in HTTP mode.
    /// The HTTP frontend takes HTTP/1.1 and HTTP/2 over cleartext (haproxy recognizes the HTTP/2
    /// preface) and passes each on in its own version: HTTP/2 requests (`HTTP_2.0`) go to the
    /// server over HTTP/2 (`proto h2`, streams of one connection), as a mesh's sidecar passes gRPC.
    /// Its streams at once are raised from 100 to the most a case asks for (`--h2-streams` 128).
    public static func haproxyConfiguration(http: UInt16, tcp: UInt16, target: UInt16) -> String {
        """
        global
            maxconn 64
            tune.h2.max-concurrent-streams \(HTTP2Workload.maximumStreams)
        defaults
            timeout connect 5s
            timeout client 60s
            timeout server 60s
        frontend http
            mode http
            option http-keep-alive
            timeout http-keep-alive 60s
            bind 127.0.0.1:\(http)
            use_backend h2 if HTTP_2.0
            default_backend http
        backend http
            mode http
            http-reuse always
            server one 127.0.0.1:\(target)
        backend h2
            mode http
            http-reuse always
            server one 127.0.0.1:\(target) proto h2
        frontend tcp
            mode tcp
            bind 127.0.0.1:\(tcp)
            default_backend tcp
        backend tcp
            mode tcp
            server one 127.0.0.1:\(target)

        """
    }
}
