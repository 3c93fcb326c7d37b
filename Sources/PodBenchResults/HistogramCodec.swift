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
        var histogram = Histogram<UInt64>(
            lowestDiscernibleValue: 1, highestTrackableValue: highestTrackableValue,
            numberOfSignificantValueDigits: .three)
        let bytes = [UInt8](raw)
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
            guard !overflow, !sumOverflow, next <= highestTrackableValue, count > 0, delta > 0 || buckets.isEmpty else {
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
        guard let first = buckets.first, let last = buckets.last else { return histogram }
        guard min <= max, histogram.valuesAreEquivalent(min, first.value),
            histogram.valuesAreEquivalent(max, last.value)
        else {
            throw PodBenchError(.incompatibleResults, "histogram min \(min) or max \(max) lies outside its buckets")
        }
        // The lowest bucket is recorded at the exact minimum and the highest at the exact maximum
        // (same buckets, so the counts are unchanged), which restores both extremes exactly.
        for (i, bucket) in buckets.enumerated() {
            var count = bucket.count
            if i == 0 {
                histogram.record(min, count: 1)
                count -= 1
            }
            guard count > 0 else { continue }
            histogram.record(i == buckets.count - 1 ? max : bucket.value, count: count)
        }
        return histogram
    }

    static func appendVarint(_ value: UInt64, to bytes: inout [UInt8]) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    static func readVarint(_ bytes: [UInt8], _ index: inout Int) throws -> UInt64 {
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
