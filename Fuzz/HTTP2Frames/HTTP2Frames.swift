import FuzzSupport
import PodBenchCore
import PodBenchHarness

/// libFuzzer entry: any bytes as what an HTTP/2 server sent on `http2-load`'s connection. The first
/// byte picks how the rest arrives (in pieces of 1 to 255 bytes, or all at once), the rest is fed to
/// a client session with 4 streams that issues requests as a real run does; then the same bytes as
/// what a client sent to a server session (after a preface and SETTINGS of its own), answers produced
/// as the driver does (ends of trials answered); the same bytes to the http2 workload's client, whose
/// driver sends part of what waits; then as one HPACK header block to a decoder with a 256-byte table. Each must go on, wait for more, or
/// throw a protocol or integrity error; never trap, read past the bytes, or overrun a buffer.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP2Frames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    guard size > 0 else { return 0 }
    let piece = Int(data[0]) == 0 ? size : Int(data[0])
    let bytes = UnsafeRawBufferPointer(start: data + 1, count: size - 1)
    do {
        let session = try HTTP2ClientSession(
            .init(streams: 4, path: "/", authority: "fuzz", maximumBodyLength: 4096))
        session.recordFrom = 0
        session.begin()
        session.sent()
        var offset = 0
        var now: UInt64 = 1
        while offset < bytes.count {
            let space = session.receiveSpace()
            let count = min(piece, space.count, bytes.count - offset)
            space.baseAddress!.copyMemory(from: bytes.baseAddress! + offset, byteCount: count)
            session.received(count)
            offset += count
            now += 1
            try session.process(now: now)
            session.issue(now: now)
            precondition(session.active <= 4)
            session.sent()
        }
    } catch let error as PodBenchError {
        precondition(error.code == .protocolViolation || error.code == .integrityFailure, "\(error)")
    } catch {
        preconditionFailure("not a PodBenchError: \(error)")
    }
    // The http2 workload's client: POST bodies within the server's windows, ends of trials, and the
    // sends that take part of what waits (as a socket that does not block does); input is taken only
    // while its answers fit (`mayProcess`), as the workload's driver takes it.
    do {
        let session = try HTTP2Workload.clientSession(streams: 4, bodyLength: 3000, seed: 1)
        session.begin()
        var offset = 0
        var now: UInt64 = 1
        var turn = 0
        while offset < bytes.count {
            turn += 1
            if session.mayProcess {
                let space = session.receiveSpace()
                let count = min(piece, space.count, bytes.count - offset)
                space.baseAddress!.copyMemory(from: bytes.baseAddress! + offset, byteCount: count)
                session.received(count)
                offset += count
                now += 1
                try session.process(now: now)
            }
            if turn % 7 == 0 && session.canEnd && session.mayIssue {
                session.issueEnd(count: session.completed, now: now)
            } else if session.mayIssue {
                session.issue(now: now)
            }
            session.writeBodies()
            precondition(session.active <= 4)
            // A send that takes some of it: all of it every other turn, else a piece's worth.
            session.sent(turn % 2 == 0 ? session.sendCount : min(piece * 7, session.sendCount))
        }
    } catch let error as PodBenchError {
        precondition(error.code == .protocolViolation || error.code == .integrityFailure, "\(error)")
    } catch {
        preconditionFailure("not a PodBenchError: \(error)")
    }
    // The server side: the client's preface and an empty SETTINGS, then the bytes, in the same pieces;
    // every answer sent as the driver sends it.
    do {
        let server = try HTTP2ServerSession(.init(bodyLength: 100, maximumStreams: 4))
        server.sent()
        var input = HTTP2.preface + [0, 0, 0, 4, 0, 0, 0, 0, 0]
        input += bytes
        var offset = 0
        while offset < input.count {
            let space = server.receiveSpace()
            let count = min(piece, space.count, input.count - offset)
            input.withUnsafeBytes { space.baseAddress!.copyMemory(from: $0.baseAddress! + offset, byteCount: count) }
            server.received(count)
            offset += count
            repeat {
                try server.process()
                if server.endRequested != nil { server.answerEnd(count: server.echoed) }
                server.sent()
                while server.produce() { server.sent() }
                server.sent()
                precondition(server.active <= 4)
            } while server.backlogged
        }
    } catch let error as PodBenchError {
        precondition(error.code == .protocolViolation, "\(error)")
    } catch {
        preconditionFailure("not a PodBenchError: \(error)")
    }
    let decoder = HPACK.Decoder(sizeLimit: 256, maximumBlock: max(bytes.count, 1))
    do {
        try decoder.decode(bytes) { name, value in
            precondition(name.count <= decoder.scratchLimit && value.count <= decoder.scratchLimit)
        }
        precondition(decoder.size <= decoder.maximumSize && decoder.maximumSize <= 256)
    } catch let error as PodBenchError {
        precondition(error.code == .protocolViolation, "\(error)")
    } catch {
        preconditionFailure("not a PodBenchError: \(error)")
    }
    return 0
}

// SwiftPM links this executable's entry point as `HTTP2Frames_main` (FuzzSupport says why).
@_cdecl("HTTP2Frames_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzHTTP2Frames(data, size) }
}
