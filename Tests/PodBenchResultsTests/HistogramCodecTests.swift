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
        }
    }
}
