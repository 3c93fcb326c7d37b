import PodBenchCore
import Testing

@Suite("Parsing user input")
struct ParsingTests {
    @Test(
        "sizes parse with and without units",
        arguments: [
            ("64", 64), ("1", 1), ("1KiB", 1024), ("1k", 1024), ("64KiB", 65536), ("1MiB", 1 << 20), ("4MiB", 4 << 20),
            (" 2K ", 2048), ("100b", 100),
        ])
    func sizes(text: String, bytes: Int) throws {
        #expect(try ByteSize.parse(text) == bytes)
    }

    @Test(
        "bad sizes are refused with a message naming them",
        arguments: ["", "0", "-1", "5MiB", "1GiB", "abc", "12QB", "1.5KiB"])
    func badSizes(text: String) {
        #expect {
            try ByteSize.parse(text)
        } throws: { error in
            let e = error as? PodBenchError
            return e?.code == .invalidConfiguration && e!.message.contains("'\(text)'")
        }
    }

    @Test("a size list keeps order and drops repeats")
    func sizeList() throws {
        #expect(try ByteSize.parseList("64,1KiB,64,64KiB,1MiB") == [64, 1024, 65536, 1 << 20])
        #expect(throws: PodBenchError.self) { try ByteSize.parseList("64,,1KiB") }
    }

    @Test("sizes format back to their shortest exact spelling")
    func formatting() {
        #expect(ByteSize.format(64) == "64")
        #expect(ByteSize.format(1536) == "1536")
        #expect(ByteSize.format(65536) == "64KiB")
        #expect(ByteSize.format(4 << 20) == "4MiB")
    }

    @Test(
        "durations parse",
        arguments: [
            ("500ms", 500_000_000), ("2s", 2_000_000_000), ("250us", 250_000), ("1.5", 1_500_000_000),
            ("1m", 60_000_000_000), ("0", 0), ("10ns", 10),
        ] as [(String, UInt64)])
    func durations(text: String, nanoseconds: UInt64) throws {
        #expect(try DurationText.parse(text, option: "--x") == nanoseconds)
    }

    @Test(
        "durations print in the largest exact unit and parse back to the same nanoseconds",
        arguments: [
            (0, "0ns"), (1, "1ns"), (999, "999ns"), (1000, "1us"), (1001, "1001ns"), (250_000, "250us"),
            (1_500_000_000, "1500ms"), (10_000_000_000, "10s"), (86_400_000_000_000, "86400s"),
            (123_456_789, "123456789ns"),
        ] as [(UInt64, String)])
    func durationFormat(nanoseconds: UInt64, text: String) throws {
        #expect(DurationText.format(nanoseconds: nanoseconds) == text)
        #expect(try DurationText.parse(text, option: "--x") == nanoseconds)
    }

    @Test("bad durations name the option", arguments: ["", "fast", "-1s", "2h", "nan", "2days"])
    func badDurations(text: String) {
        #expect {
            try DurationText.parse(text, option: "--duration")
        } throws: { ($0 as? PodBenchError)?.message.hasPrefix("--duration") == true }
    }

    @Test(
        "endpoints parse and print back",
        arguments: [
            "tcp:127.0.0.1:7000", "tcp:[::1]:7000", "unix:/tmp/x.sock", "unix:@podbench-ctl", "tcp:0.0.0.0:0",
        ])
    func endpoints(text: String) throws {
        #expect(try SocketAddress(parsing: text).description == text)
    }

    @Test(
        "bad endpoints are refused",
        arguments: [
            "127.0.0.1:7000", "tcp:localhost:7000", "tcp:127.0.0.1", "tcp:127.0.0.1:99999", "unix:", "tcp:[::1]7000",
            "unix:@", "http://x",
        ])
    func badEndpoints(text: String) {
        #expect(throws: PodBenchError.self) { try SocketAddress(parsing: text) }
    }
}
