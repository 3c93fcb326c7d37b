import FuzzSupport
import PodBenchCore
import PodBenchHarness

/// libFuzzer entry: any bytes as what an HTTP peer sent on the http1 workload's connection, read
/// as responses (what the client reads from a server or proxy) and as requests (what the server
/// reads from a client), message after message as the loops read them. Parsing must return, wait
/// for more, or throw a protocol violation; never trap, read past the bytes, or say a head is
/// longer than what arrived.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTPMessages(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeRawBufferPointer(start: data, count: size)
    for response in [true, false] {
        var offset = 0
        while offset < bytes.count {
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let head: HTTP1.Head
            do {
                guard let parsed = try HTTP1.parseHead(rest, response: response) else { break }
                head = parsed
            } catch let error as PodBenchError {
                precondition(error.code == .protocolViolation)
                break
            } catch {
                preconditionFailure("not a PodBenchError: \(error)")
            }
            precondition(head.length > 0 && head.length <= rest.count && head.length <= HTTP1.maximumHeadLength)
            precondition(head.startLine.upperBound <= head.length)
            precondition((head.contentLength ?? 0) <= HTTP1.maximumContentLength)
            precondition(!response || (100...999).contains(head.status))
            _ = HTTP1.quote(rest, head.startLine)
            offset += head.length + min(head.contentLength ?? 0, rest.count - head.length)
        }
    }
    return 0
}

// SwiftPM links this executable's entry point as `HTTPMessages_main` (FuzzSupport says why).
@_cdecl("HTTPMessages_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzHTTPMessages(data, size) }
}
