import Foundation
import FuzzSupport
import PodBenchReport
import PodBenchResults

/// libFuzzer entry: any bytes as a results file. Loading must accept or refuse with an error,
/// never trap; and a file that loads must compare (with itself and with a copy scaled by 1000)
/// and render in every format without trapping.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzResultsFiles(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Data(bytes: data, count: size)
    if let run = try? ResultsStore.decode(bytes, source: "fuzz.json") {
        for c in run.cases {
            _ = CaseSummary(c)
        }
        var scaled = run
        for i in scaled.cases.indices {
            for j in scaled.cases[i].trials.indices { scaled.cases[i].trials[j].messagesPerSecond *= 1000 }
        }
        for other in [run, scaled] {
            guard
                let report = try? Comparator().compare(
                    baseline: run, current: other, baselineName: "a", currentName: "b")
            else { continue }
            let policy = GatePolicy()
            _ = ComparisonRenderer.markdown(report, policy: policy)
            _ = ComparisonRenderer.junit(report, policy: policy)
            _ = ComparisonRenderer.terminal(report, policy: policy, colour: true, all: true)
            _ = try? ComparisonRenderer.json(report, policy: policy)
        }
    }
    return 0
}

// SwiftPM links this executable's entry point as `ResultsFiles_main` (FuzzSupport says why).
@_cdecl("ResultsFiles_main")
func fuzzerMain(_ argc: CInt, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> CInt {
    runFuzzer(argc, argv) { data, size in fuzzResultsFiles(data, size) }
}
