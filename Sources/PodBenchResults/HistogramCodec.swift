import Foundation
import Histogram
import PodBenchCore

/// A latency histogram as stored in a results file: exact (every bucket's count survives the
/// round trip, so every percentile does) and small (only non-empty buckets, as varint deltas).
///
/// Encoding `v1`: for each non-empty bucket in ascending order, the LEB128 varint of
/// (bucket value − previous bucket value) followed by the varint of its count; then base64.
/// The bucket value is the highest value equivalent to the bucket, which records back into the
/// same bucket. The exact smallest and largest recorded values are stored beside, because
/// percentiles are clamped to them; decoding records them in their own buckets' place.
public struct EncodedHistogram: Codable, Equatable, Sendable {
    public static let currentEncoding = "hdr-varint-v1"

    public var encoding: String
    /// Values are nanoseconds.
    public var unit: String
    public var significantDigits: Int
    public var highestTrackableValue: UInt64
    public var totalCount: UInt64
    /// The exact smallest and largest values recorded (0 when empty).
    public var min: UInt64
    public var max: UInt64
    public var data: String

    /// The highest latency podbench histograms record; longer values are clamped to it.
    public static let highestTrackable: UInt64 = 60_000_000_000

    /// A new, empty latency histogram in nanoseconds with 3 significant digits; sized once so
    /// that recording never allocates.
    public static func makeLatencyHistogram() -> Histogram<UInt64> {
        Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: highestTrackable, numberOfSignificantValueDigits: .three)
    }

    /// Encodes `histogram`.
    public init(_ histogram: Histogram<UInt64>) {
        var bytes: [UInt8] = []
        var previous: UInt64 = 0
        for bucket in histogram.recordedValues() {
            Self.appendVarint(bucket.value - previous, to: &bytes)
            Self.appendVarint(UInt64(bucket.count), to: &bytes)
            previous = bucket.value
        }
        encoding = Self.currentEncoding
        unit = "ns"
        significantDigits = Int(histogram.numberOfSignificantValueDigits.rawValue)
        highestTrackableValue = histogram.highestTrackableValue
        totalCount = histogram.totalCount
        min = histogram.totalCount == 0 ? 0 : histogram.min
        max = histogram.totalCount == 0 ? 0 : histogram.maxRecorded
        data = Data(bytes).base64EncodedString()
    }

    /// Decodes the histogram.
    /// - Throws: `.incompatibleResults` saying what is wrong with the stored form.
    public func decode() throws -> Histogram<UInt64> {
        let buckets = try checkedBuckets()
        var histogram = Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: highestTrackableValue,
            numberOfSignificantValueDigits: .three)
        record(buckets, into: &histogram)
        return histogram
    }

    /// Adds the stored values to `histogram` (one of `makeLatencyHistogram`'s): what merging the
    /// decoded histogram would, without a histogram of its own (a merge of 100,000 trials then
    /// touches their non-empty buckets, not 100,000 × 26,000 counts).
    /// - Throws: `.incompatibleResults` as `decode`, or when the values would not fit.
    public func add(to histogram: inout Histogram<UInt64>) throws {
        let buckets = try checkedBuckets()
        guard max <= histogram.highestTrackableValue, histogram.totalCount <= UInt64.max - totalCount else {
            throw PodBenchError(.incompatibleResults, "histogram values do not fit the merged histogram")
        }
        record(buckets, into: &histogram)
    }

    /// The summary of the decoded histogram (`LatencySummary(try decode())`, the same figures),
    /// read from the stored buckets alone: what validating a results file needs, without building
    /// a histogram of 26,000 counts per trial and walking it (that was 90% of reading a file).
    /// - Throws: `.incompatibleResults` as `decode`.
    public func summary() throws -> LatencySummary {
        let buckets = try checkedBuckets()
        guard !buckets.isEmpty else { return LatencySummary(try decode()) }
        let layout = Self.layout
        func percentile(_ p: Double) -> UInt64 {
            // HdrHistogram's valueAtPercentile, over the non-empty buckets.
            let requested = Swift.min(Swift.max(p.nextDown, 0.0), 100.0)
            let target = Swift.max(1, UInt64((requested * Double(totalCount) / 100.0).rounded(.up)))
            var total: UInt64 = 0
            for bucket in buckets {
                total += bucket.count
                if total >= target {
                    return Swift.max(Swift.min(layout.highestEquivalentForValue(bucket.value), max), min)
                }
            }
            return 0
        }
        // HdrHistogram's mean: each bucket's count at the middle of the bucket.
        var sum = 0.0
        for bucket in buckets { sum += Double(layout.medianEquivalentForValue(bucket.value)) * Double(bucket.count) }
        return LatencySummary(
            count: totalCount, min: min, p50: percentile(50), p90: percentile(90), p99: percentile(99),
            p999: percentile(99.9), max: max, mean: sum / Double(totalCount))
    }

    /// Bucket arithmetic (which values share a bucket) depends on the digits and the lowest
    /// value only, the same for every podbench histogram.
    private static let layout = makeLatencyHistogram()

    /// The stored non-empty buckets, ascending, after every check of the stored form: encoding,
    /// range, order, counts against `totalCount`, `min` and `max` inside the end buckets.
    func checkedBuckets() throws -> [(value: UInt64, count: UInt64)] {
        guard encoding == Self.currentEncoding else {
            throw PodBenchError(
                .incompatibleResults, "histogram encoding '\(encoding)' is unknown to this podbench: upgrade podbench")
        }
        guard significantDigits == 3, unit == "ns" else {
            throw PodBenchError(
                .incompatibleResults, "histogram with \(significantDigits) digits in '\(unit)' is not supported")
        }
        // podbench records up to `highestTrackable` (60 s); a wider range would not fit the
        // histograms a report merges trials into.
        guard highestTrackableValue >= 2, highestTrackableValue <= Self.highestTrackable else {
            throw PodBenchError(.incompatibleResults, "histogram range \(highestTrackableValue) is out of bounds")
        }
        guard let raw = Data(base64Encoded: data) else {
            throw PodBenchError(.incompatibleResults, "histogram data is not base64")
        }
        return try raw.withUnsafeBytes { try checkedBuckets($0.bindMemory(to: UInt8.self)) }
    }

    private func checkedBuckets(_ bytes: UnsafeBufferPointer<UInt8>) throws -> [(value: UInt64, count: UInt64)] {
        let layout = Self.layout
        let topOfRange = layout.highestEquivalentForValue(highestTrackableValue)
        var buckets: [(value: UInt64, count: UInt64)] = []
        var index = 0
        var value: UInt64 = 0
        var total: UInt64 = 0
        var sumOfValues = 0.0
        while index < bytes.count {
            let delta = try Self.readVarint(bytes, &index)
            let count = try Self.readVarint(bytes, &index)
            let (next, overflow) = value.addingReportingOverflow(delta)
            let (sum, sumOverflow) = total.addingReportingOverflow(count)
            // The form the encoder writes, and only it: each value the top of its bucket (so one per
            // bucket), the highest no higher than the top of the bucket of the range's end (a value
            // clamped to 60 s is stored as that bucket's top, 60.03 s). Any other form decodes to a
            // histogram whose figures differ from the summary read here.
            guard !overflow, !sumOverflow, next <= topOfRange, count > 0, delta > 0 || buckets.isEmpty,
                layout.highestEquivalentForValue(next) == next
            else {
                throw PodBenchError(.incompatibleResults, "histogram data is corrupt (bucket out of range or order)")
            }
            value = next
            total = sum
            // The histogram's mean sums count × value in 64 bits: far beyond any real trial
            // (10^18 ns is 31 years of summed latency), and refused before it could overflow.
            sumOfValues += Double(count) * Double(next)
            guard sumOfValues <= 1e18 else {
                throw PodBenchError(.incompatibleResults, "histogram data sums to more latency than any trial holds")
            }
            buckets.append((value, count))
        }
        guard total == totalCount else {
            throw PodBenchError(
                .incompatibleResults, "histogram data holds \(total) values but says \(totalCount)")
        }
        guard let first = buckets.first, let last = buckets.last else { return buckets }
        // One value has one extreme; the maximum is a value recorded, so within the range.
        guard min <= max, max <= highestTrackableValue, totalCount > 1 || min == max,
            layout.valuesAreEquivalent(min, first.value), layout.valuesAreEquivalent(max, last.value)
        else {
            throw PodBenchError(.incompatibleResults, "histogram min \(min) or max \(max) lies outside its buckets")
        }
        return buckets
    }

    /// Records checked buckets: the lowest at the exact minimum and the highest at the exact
    /// maximum (same buckets, so the counts are unchanged), which restores both extremes exactly.
    private func record(_ buckets: [(value: UInt64, count: UInt64)], into histogram: inout Histogram<UInt64>) {
        for (i, bucket) in buckets.enumerated() {
            var count = bucket.count
            if i == 0 {
                histogram.record(min, count: 1)
                count -= 1
            }
            guard count > 0 else { continue }
            histogram.record(i == buckets.count - 1 ? max : bucket.value, count: count)
        }
    }

    static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    static func readVarint(_ bytes: UnsafeBufferPointer<UInt8>, _ index: inout Int) throws -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard index < bytes.count, shift < 64 else {
                throw PodBenchError(.incompatibleResults, "histogram data is truncated or malformed")
            }
            let byte = bytes[index]
            index += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte & 0x80 == 0 { return result }
            shift += 7
        }
    }
}
