import Foundation
import PodBenchResults

/// libFuzzer entry: any bytes as a results file. Loading must accept or refuse with an error,
/// never trap.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResultsFiles(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    if let run = try? ResultsStore.decode(bytes, source: "fuzz.json") {
        for c in run.cases {
            _ = CaseSummary(c)
        }
    }
    return 0
}

// SwiftPM links an executable's entry point as `ResultsFiles_main`; here it hands over to libFuzzer's
// driver (libFuzzer's own `main` is then not linked in).
@_silgen_name("LLVMFuzzerRunDriver")
func runFuzzerDriver(
    _ argc: UnsafeMutablePointer<CInt>,
    _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?>,
    _ callback: @convention(c) (UnsafePointer<UInt8>, Int) -> CInt
) -> CInt

@_cdecl("ResultsFiles_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    var count = argc
    var arguments = argv
    return runFuzzerDriver(&count, &arguments) { data, size in fuzzResultsFiles(data, size) }
}
