import FuzzSupport
import PodBenchCore
import PodBenchHarness

/// libFuzzer entry: any bytes as a control-channel stream. Decoding must throw or succeed, never
/// trap, and never allocate more than the 1 MiB frame limit for a body.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzControlFrames(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    var bytes = Array(UnsafeBufferPointer(start: data, count: size))
    while bytes.count >= ControlConnection.headerSize {
        let header = Array(bytes[0..<ControlConnection.headerSize])
        guard let length = try? ControlConnection.bodyLength(ofHeader: header) else { return 0 }
        precondition(length <= ControlConnection.maximumBody)
        let rest = bytes.count - ControlConnection.headerSize
        guard length <= rest else { return 0 }
        let body = Array(bytes[ControlConnection.headerSize..<(ControlConnection.headerSize + length)])
        if let message = try? ControlConnection.decodeBody(body) {
            // What decodes must encode again.
            _ = try? ControlConnection.encodeFrame(message)
        }
        bytes.removeFirst(ControlConnection.headerSize + length)
    }
    return 0
}

// SwiftPM links this executable's entry point as `ControlFrames_main` (FuzzSupport says why).
@_cdecl("ControlFrames_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzControlFrames(data, size) }
}
