import Foundation
import FuzzSupport
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

// SwiftPM links this executable's entry point as `ResultsFiles_main` (FuzzSupport says why).
@_cdecl("ResultsFiles_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzResultsFiles(data, size) }
}
