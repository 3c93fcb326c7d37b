import Foundation
import Histogram
import PodBenchCore
import PodBenchResults
import Testing

@Suite("Histogram codec")
struct HistogramCodecTests {
    static func sample(count: Int, seed: UInt64, decades: Double = 7) -> Histogram<UInt64> {
        var h = EncodedHistogram.makeLatencyHistogram()
        var state = seed
        for _ in 0..<count {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            // Log-uniform over `decades` from 1µs: latencies with a long tail.
            let exponent = Double(state >> 11) / Double(1 << 53) * decades
            h.record(UInt64(1000 * pow(10, exponent)))
        }
        return h
    }

    @Test("every bucket, percentile and extreme survives the round trip", arguments: [1, 10, 10_000, 200_000])
    func roundTrip(count: Int) throws {
        let original = Self.sample(count: count, seed: UInt64(count))
        let encoded = EncodedHistogram(original)
        let decoded = try encoded.decode()
        #expect(decoded.totalCount == original.totalCount)
        for p in [0.0, 1, 10, 50, 90, 99, 99.9, 99.99, 100] {
            #expect(decoded.valueAtPercentile(p) == original.valueAtPercentile(p), "p\(p)")
        }
        #expect(decoded.max == original.max)
        #expect(decoded.min == original.min)
        let a = original.recordedValues().map { [$0.value, UInt64($0.count)] }
        let b = decoded.recordedValues().map { [$0.value, UInt64($0.count)] }
        #expect(a == b)
        // And it goes through JSON unchanged.
        let json = try JSONEncoder().encode(encoded)
        #expect(try JSONDecoder().decode(EncodedHistogram.self, from: json) == encoded)
    }

    @Test("the stored form is small: bytes grow with buckets used, not with values recorded")
    func small() {
        // Two decades (a wide round-trip spread): at most ~4 base64 characters per used bucket,
        // however many values were recorded.
        for count in [1000, 1_000_000] {
            let histogram = Self.sample(count: count, seed: 7, decades: 2)
            let buckets = histogram.recordedValues().reduce(0) { n, _ in n + 1 }
            #expect(EncodedHistogram(histogram).data.utf8.count <= 4 * buckets + 4)
        }
    }

    @Test("an empty histogram round-trips")
    func empty() throws {
        let decoded = try EncodedHistogram(EncodedHistogram.makeLatencyHistogram()).decode()
        #expect(decoded.totalCount == 0)
    }

    @Test("damaged data is refused with a reason, never trapped on")
    func damaged() throws {
        let good = EncodedHistogram(Self.sample(count: 1000, seed: 1))
        var cases: [EncodedHistogram] = []
        var notBase64 = good
        notBase64.data = "%%%"
        cases.append(notBase64)
        var truncated = good
        truncated.data = Data(Data(base64Encoded: good.data)!.dropLast(1)).base64EncodedString()
        cases.append(truncated)
        var wrongTotal = good
        wrongTotal.totalCount += 1
        cases.append(wrongTotal)
        var unknown = good
        unknown.encoding = "hdr-v9"
        cases.append(unknown)
        var outsideMax = good
        outsideMax.max += 1_000_000
        cases.append(outsideMax)
        var huge = good
        huge.highestTrackableValue = UInt64.max
        cases.append(huge)
        var overflow = good
        overflow.data = Data([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x01]).base64EncodedString()
        cases.append(overflow)
        for bad in cases {
            #expect {
                try bad.decode()
            } throws: { ($0 as? PodBenchError)?.code == .incompatibleResults }
            // The summary (what validation reads) and the merge check the same.
            #expect {
                try bad.summary()
            } throws: { ($0 as? PodBenchError)?.code == .incompatibleResults }
            var merged = EncodedHistogram.makeLatencyHistogram()
            #expect {
                try bad.add(to: &merged)
            } throws: { ($0 as? PodBenchError)?.code == .incompatibleResults }
            #expect(merged.totalCount == 0)
        }
    }

    /// A stored form written by hand: buckets as (value, count), the extremes given.
    static func handWritten(_ buckets: [(UInt64, UInt64)], min: UInt64, max: UInt64) -> EncodedHistogram {
        var h = EncodedHistogram(EncodedHistogram.makeLatencyHistogram())
        var bytes: [UInt8] = []
        var previous: UInt64 = 0
        for (value, count) in buckets {
            for v in [value - previous, count] {
                var x = v
                while x >= 0x80 {
                    bytes.append(UInt8(x & 0x7F) | 0x80)
                    x >>= 7
                }
                bytes.append(UInt8(x))
            }
            previous = value
        }
        h.data = Data(bytes).base64EncodedString()
        h.totalCount = buckets.reduce(0) { $0 + $1.1 }
        h.min = min
        h.max = max
        return h
    }

    @Test(
        "the summary read from the stored buckets is the decoded histogram's, figure for figure",
        arguments: [1, 2, 3, 10, 999, 1000, 1001, 10_000, 200_000])
    func summaryFromBuckets(count: Int) throws {
        for (seed, decades) in [(UInt64(count), 7.0), (UInt64(count) &+ 99, 0.3), (UInt64(count) &+ 7, 2)] {
            let encoded = EncodedHistogram(Self.sample(count: count, seed: seed, decades: decades))
            let expected = LatencySummary(try encoded.decode())
            let summary = try encoded.summary()
            #expect(summary.count == expected.count && summary.min == expected.min && summary.max == expected.max)
            #expect(
                [summary.p50, summary.p90, summary.p99, summary.p999]
                    == [expected.p50, expected.p90, expected.p99, expected.p999], "seed \(seed)")
            #expect(abs(summary.mean - expected.mean) <= 1e-9 * expected.mean, "\(summary.mean) \(expected.mean)")
        }
        // A stored form written by hand in the encoder's form: the summary is the decoded one's.
        let written = Self.handWritten([(5003, 3), (70_015, 5)], min: 5000, max: 70_012)
        let expected = LatencySummary(try written.decode())
        let summary = try written.summary()
        #expect(
            [summary.p50, summary.p90, summary.p99, summary.p999]
                == [expected.p50, expected.p90, expected.p99, expected.p999])
        #expect(summary.min == expected.min && summary.max == expected.max && summary.count == expected.count)
    }

    @Test("a stored form the encoder never writes is refused: its decoded figures and its summary would differ")
    func nonCanonical() {
        let forms: [(buckets: [(UInt64, UInt64)], min: UInt64, max: UInt64)] = [
            // A value off its bucket's top (5000..5003 is one bucket), and two values in one bucket.
            ([(5001, 3), (70_015, 1)], 5000, 70_000),
            ([(5002, 3), (5003, 2)], 5000, 5003),
            // One value with two extremes (2048 and 2049 share a bucket).
            ([(2049, 1)], 2048, 2049),
            // The last bucket's stored value above the maximum, the first's below the minimum.
            ([(1, 1), (4098, 1), (4099, 1)], 1, 4096),
            ([(4096, 2), (8003, 1)], 4099, 8000),
        ]
        for form in forms {
            let bad = Self.handWritten(form.buckets, min: form.min, max: form.max)
            #expect(throws: PodBenchError.self, "\(form)") { try bad.summary() }
            #expect(throws: PodBenchError.self, "\(form)") { try bad.decode() }
        }
    }

    @Test("a round trip clamped to 60 s is stored as its bucket's top, and read back")
    func clampedToRange() throws {
        var h = EncodedHistogram.makeLatencyHistogram()
        h.record(1000)
        h.record(EncodedHistogram.highestTrackable)
        let encoded = EncodedHistogram(h)
        let summary = try encoded.summary()
        #expect(summary.max == EncodedHistogram.highestTrackable)
        let decoded = LatencySummary(try encoded.decode())
        #expect(
            [summary.min, summary.p50, summary.p99, summary.max] == [
                decoded.min, decoded.p50, decoded.p99, decoded.max,
            ])
        var merged = EncodedHistogram.makeLatencyHistogram()
        try encoded.add(to: &merged)
        #expect(merged.totalCount == 2)
    }

    @Test("adding the stored values to a histogram is merging the decoded one")
    func addTo() throws {
        var merged = EncodedHistogram.makeLatencyHistogram()
        var expected = EncodedHistogram.makeLatencyHistogram()
        for seed in UInt64(1)...5 {
            let encoded = EncodedHistogram(Self.sample(count: 5000, seed: seed, decades: Double(seed)))
            try encoded.add(to: &merged)
            expected.add(try encoded.decode())
        }
        #expect(merged.totalCount == expected.totalCount)
        #expect(merged.min == expected.min && merged.max == expected.max)
        let a = merged.recordedValues().map { [$0.value, UInt64($0.count)] }
        let b = expected.recordedValues().map { [$0.value, UInt64($0.count)] }
        #expect(a == b)
    }
}
