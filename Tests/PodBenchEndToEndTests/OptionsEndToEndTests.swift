import Foundation
import Testing

extension EndToEnd {
    /// Every option with a nonsense value gets a message naming the option, exit 2, and no output.
    @Suite("nonsense options", .safeSwiftOnOneThread("option parsing"))
    struct OptionsEndToEndTests {
        static let cases: [(String, [String], String)] = [
            ("run", ["--transports", "pigeon"], "--transports"),
            ("run", ["--workloads", "burst"], "--workloads"),
            ("run", ["--sizes", "huge"], "--sizes"),
            ("run", ["--trials", "many"], "--trials"),
            ("run", ["--trials", "-3"], "--trials"),
            ("run", ["--duration", "forever"], "--duration"),
            ("run", ["--warmup", "-1s"], "--warmup"),
            ("run", ["--messages", "0"], "--messages"),
            ("run", ["--verify", "sometimes"], "--verify"),
            ("run", ["--timeout", "1ms"], "--timeout"),
            ("run", ["--cpu", "client"], "--cpu"),
            ("run", ["--socket-buffer", "12parsecs"], "--socket-buffer"),
            ("run", ["--shm-ring", "5000"], "--shm-ring"),
            ("run", ["--shm-wait", "nap"], "--shm-wait"),
            ("run", ["--isolation", "vm"], "--isolation"),
            ("client", ["--control", "http://x"], "--control"),
            ("client", ["--connect-wait", "a while"], "--connect-wait"),
            ("serve", ["--control", "tcp:localhost:1"], "--control"),
            ("serve", ["--timeout", "soon"], "--timeout"),
            ("serve", ["--shared-dir", "/nonexistent-podbench"], "--shared-dir"),
            ("serve", ["--shm-dir", "/nonexistent-podbench"], "--shm-dir"),
            ("serve", ["--cpu", "x"], "--cpu"),
            ("calibrate", ["--cpu", "1"], "--cpu"),
            ("calibrate", ["--duration", "x"], "--duration"),
            ("compare", ["a.json", "b.json", "--format", "pdf"], "--format"),
            ("compare", ["a.json", "b.json", "--confidence", "2"], "--confidence"),
            ("compare", ["a.json", "b.json", "--min-effect", "p50"], "--min-effect"),
        ]

        @Test("each is refused, naming the option", arguments: cases)
        func refused(command: String, arguments: [String], option: String) throws {
            let result = try BinaryProcess.run([command] + arguments, timeout: 30)
            #expect(result.status == 2, "\(command) \(arguments): \(result.stderr)")
            #expect(result.stderr.contains(option), "\(command) \(arguments): \(result.stderr)")
            #expect(result.stdout.isEmpty)
        }
    }
}
