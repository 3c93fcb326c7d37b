import PodBenchResults
import Testing

/// The one number formatter (#20: "1000k next to 1.00M"): every boundary, just below and just
/// above it, where rounding to three significant digits carries into the next digit or unit.
@Suite("number formats")
struct FormatTests {
    @Test(
        "decimal: three significant digits, the digits chosen after rounding",
        arguments: [
            (0.0, "0.00"), (1.0, "1.00"), (1.234, "1.23"), (9.994, "9.99"), (9.996, "10.0"), (9.999, "10.0"),
            (10.0, "10.0"), (12.34, "12.3"), (99.94, "99.9"), (99.96, "100"), (99.99, "100"), (100.0, "100"),
            (999.4, "999"), (999.6, "1000"), (1234.0, "1234"), (-9.999, "-10.0"), (-99.97, "-100"),
            (Double.infinity, "-"), (Double.nan, "-"),
        ])
    func decimal(value: Double, text: String) {
        #expect(Format.decimal(value) == text, "\(value)")
    }

    @Test(
        "nanoseconds: the unit chosen after rounding, so 999.7 µs is 1.00ms",
        arguments: [
            (0.0, "0ns"), (850.0, "850ns"), (999.4, "999ns"), (999.5, "1.00µs"), (999.9, "1.00µs"),
            (1_000.0, "1.00µs"), (9_996.0, "10.0µs"), (99_960.0, "100µs"), (999_400.0, "999µs"),
            (999_500.0, "1.00ms"), (999_999.0, "1.00ms"), (1_000_000.0, "1.00ms"), (4_560_000.0, "4.56ms"),
            (999_499_999.0, "999ms"), (999_500_000.0, "1.00s"), (1_230_000_000.0, "1.23s"),
            (3_600e9, "3600s"), (-1_500.0, "-1.50µs"), (Double.infinity, "-"),
        ])
    func nanoseconds(value: Double, text: String) {
        #expect(Format.nanoseconds(value) == text, "\(value)")
    }

    @Test(
        "rate: k, M and G chosen after rounding, so 999,999 is 1.00M and never 1000k",
        arguments: [
            (0.0, "0.00"), (999.0, "999"), (999.5, "1.00k"), (1_000.0, "1.00k"), (9_996.0, "10.0k"),
            (12_345.0, "12.3k"), (99_960.0, "100k"), (999_499.0, "999k"), (999_500.0, "1.00M"),
            (999_999.0, "1.00M"), (1_000_000.0, "1.00M"), (1_234_567.0, "1.23M"), (999_500_000.0, "1.00G"),
            (2.5e9, "2.50G"), (Double.nan, "-"),
        ])
    func rate(value: Double, text: String) {
        #expect(Format.rate(value) == text, "\(value)")
    }

    @Test(
        "bytes per second: decimal units, chosen after rounding, so 999.7 MB/s is 1.00 GB/s",
        arguments: [
            (0.0, "0.00 B/s"), (950.0, "950 B/s"), (999.4, "999 B/s"), (999.6, "1.00 kB/s"), (12_340.0, "12.3 kB/s"),
            (999_400.0, "999 kB/s"), (999_600.0, "1.00 MB/s"), (999_700_000.0, "1.00 GB/s"),
            (1_234_000_000.0, "1.23 GB/s"), (999_600_000_000.0, "1.00 TB/s"), (Double.nan, "-"),
        ])
    func bytesPerSecond(value: Double, text: String) {
        #expect(Format.bytesPerSecond(value) == text, "\(value)")
    }

    @Test(
        "plain: what a data file holds, integers as integers, the rest to 12 significant digits",
        arguments: [
            (0.0, "0"), (64.0, "64"), (-3.0, "-3"), (1e15, "1e+15"), (0.1 + 0.2, "0.3"),
            (113_733.158_942_13, "113733.158942"),
            (1.5e-7, "1.5e-07"), (Double.infinity, ""), (Double.nan, ""),
        ])
    func plain(value: Double, text: String) {
        #expect(Format.plain(value) == text, "\(value)")
    }

    @Test("significant digits: carried at the boundary, signed, huge and zero")
    func significant() {
        #expect(Format.significant(999.5) == 1000)
        #expect(Format.significant(0.0012345) == 0.00123)
        #expect(Format.significant(-12_345) == -12_300)
        #expect(abs(Format.significant(1e300) / 1e300 - 1) < 1e-12)
        #expect(Format.significant(0) == 0)
    }
}
