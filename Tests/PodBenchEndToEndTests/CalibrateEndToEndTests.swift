import Foundation
import PodBenchCore
import PodBenchResults
import Testing

extension EndToEnd {
    @Suite("calibrate end to end", .serialized)
    struct CalibrateEndToEndTests {
        static let ids = [
            CalibrationMeasurement.timerRead, CalibrationMeasurement.timerResolution,
            CalibrationMeasurement.nullSyscall,
            CalibrationMeasurement.memcpyCached, CalibrationMeasurement.memcpyLarge,
            CalibrationMeasurement.harnessPingPong,
            CalibrationMeasurement.cachelineSameCore, CalibrationMeasurement.futexSameCore,
        ]

        /// Checks that every limit is there with plausible values (never that any is fast).
        static func checkPlausible(_ c: Calibration, trials: Int) {
            for id in ids {
                guard let m = c[id] else {
                    Issue.record("\(id) missing")
                    continue
                }
                #expect(m.trials.count == trials, "\(id)")
                #expect(m.trials.allSatisfy { $0 > 0 && $0.isFinite }, "\(id)")
                #expect(m.median >= (m.trials.min() ?? 0) && m.median <= (m.trials.max() ?? 0), "\(id)")
            }
            if CPUPinning.allowedCPUs().count >= 2 {
                #expect(c[CalibrationMeasurement.cachelineCrossCore] != nil)
                #expect(c[CalibrationMeasurement.futexCrossCore] != nil)
                #expect(c.firstCPU != c.secondCPU)
            }
            // Orders of magnitude that hold on any machine: a clock read is cheaper than a system
            // call is cheaper than a futex round trip; a cached copy is not slower than a large one.
            let timer = c[CalibrationMeasurement.timerRead]?.median ?? 0
            let syscall = c[CalibrationMeasurement.nullSyscall]?.median ?? 0
            let futex = c[CalibrationMeasurement.futexSameCore]?.median ?? 0
            #expect(timer < 10_000)
            #expect(syscall < futex)
            #expect(
                (c[CalibrationMeasurement.memcpyCached]?.median ?? 0) > 0.5
                    * (c[CalibrationMeasurement.memcpyLarge]?.median ?? 0))
        }

        @Test(
            "calibrate measures every limit with the trial method and prints JSON",
            .disabled(if: sanitized, "the quick calibration of a run drives the same peers, under both sanitizers"))
        func calibrateJSON() throws {
            let result = try BinaryProcess.run(["calibrate", "--trials", "3", "--duration", "20ms", "--json"])
            #expect(result.status == 0, "\(result.stderr)")
            let calibration = try JSONDecoder().decode(Calibration.self, from: Data(result.stdout.utf8))
            Self.checkPlausible(calibration, trials: 3)
            // The shared pages are gone: none is left by a process that has ended (other tests'
            // runs may be calibrating right now).
            let leftovers = try FileManager.default.contentsOfDirectory(atPath: "/dev/shm").filter { name in
                guard name.hasPrefix("podbench-calibrate-"),
                    let pid = Int32(name.dropFirst("podbench-calibrate-".count).prefix(while: \.isNumber))
                else { return false }
                return kill(pid, 0) != 0
            }
            #expect(leftovers.isEmpty)
        }

        @Test("a run records a quick calibration and shows each case against its limit")
        func runRecordsCalibration() throws {
            let dir = try temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let result = try BinaryProcess.run(
                [
                    "run", "--transports", "shm,uds", "--shm-wait", "spin", "--sizes", "64", "--trials", "2",
                    "--duration",
                    "60ms", "--warmup", "20ms", "--results-dir", dir, "--cpu",
                    "client=\(CPUPinning.allowedCPUs().first!),server=\(CPUPinning.allowedCPUs().last!)",
                ])
            #expect(result.status == 0, "\(result.stderr)")
            let run = try ResultsStore.load(try #require(try resultsFiles(in: dir).first))
            let calibration = try #require(run.calibration)
            Self.checkPlausible(calibration, trials: 5)
            // Measured again at the end, on the same CPUs.
            let after = try #require(run.calibrationAfter)
            Self.checkPlausible(after, trials: 5)
            #expect(after.firstCPU == calibration.firstCPU && after.secondCPU == calibration.secondCPU)
            #expect(result.stdout.contains("vs limit"))
            #expect(result.stdout.contains("× cl"))
            #expect(result.stdout.contains("× fx"))
            #expect(result.stdout.contains("% mc"))
        }

        @Test("bad calibrate options are refused", .safeSwiftOnOneThread("option parsing"))
        func badOptions() throws {
            for arguments in [["--cpu", "0"], ["--trials", "0"], ["--duration", "x"]] {
                let result = try BinaryProcess.run(["calibrate"] + arguments)
                #expect(result.status == 2, "\(arguments)")
            }
        }
    }
}
