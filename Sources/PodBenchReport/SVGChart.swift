import Foundation
import PodBenchCore
import PodBenchResults

/// How an axis maps and labels its values.
public struct ChartAxis: Sendable {
    public enum Scale: Sendable {
        case linear
        case log
    }

    /// What the values are, for tick labels.
    public enum Unit: Sendable {
        /// Nanoseconds, labelled 100ns, 10µs, 1ms.
        case nanoseconds
        /// Bytes, labelled 64 B, 1 KiB, 1 MiB (log ticks at powers of 4).
        case bytes
        /// Per second or plain counts: 10k, 1M.
        case count
        /// Bytes per second, labelled in decimal units as network and disk figures are: 10 MB/s, 1 GB/s.
        case bytesPerSecond
        /// Percentiles on a log scale of 1/(1−q): 50, 90, 99, 99.9.
        case percentile
        /// Category names, one tick per index.
        case categories([String])
    }

    public var label: String
    public var scale: Scale
    public var unit: Unit

    public init(label: String, scale: Scale, unit: Unit) {
        self.label = label
        self.scale = scale
        self.unit = unit
    }

    /// `10.0µs` as `10µs`, `1.00k` as `1k`, `2.50ms` as `2.5ms`: tick labels without dead zeros.
    static func trimmed(_ text: String) -> String {
        guard let dot = text.firstIndex(of: ".") else { return text }
        var digitsEnd = text.index(after: dot)
        while digitsEnd < text.endIndex, text[digitsEnd].isNumber { digitsEnd = text.index(after: digitsEnd) }
        var fraction = text[text.index(after: dot)..<digitsEnd]
        while fraction.last == "0" { fraction = fraction.dropLast() }
        return String(text[..<dot]) + (fraction.isEmpty ? "" : "." + fraction) + text[digitsEnd...]
    }

    /// Tick label of `value`.
    func text(_ value: Double) -> String {
        switch unit {
        case .nanoseconds: return Self.trimmed(Format.nanoseconds(value))
        case .bytes:
            let v = Int(value.rounded())
            if v >= 1 << 30 && v % (1 << 30) == 0 { return "\(v >> 30) GiB" }
            if v >= 1 << 20 && v % (1 << 20) == 0 { return "\(v >> 20) MiB" }
            if v >= 1 << 10 && v % (1 << 10) == 0 { return "\(v >> 10) KiB" }
            return "\(v) B"
        case .count: return Self.trimmed(Format.rate(value))
        case .bytesPerSecond: return Self.trimmed(Format.bytesPerSecond(value))
        case .percentile: return "p" + ChartAxis.percentileText(ChartAxis.percentile(fromLogOdds: value))
        case .categories(let names):
            let i = Int(value.rounded())
            return names.indices.contains(i) ? names[i] : ""
        }
    }

    /// The axis's column in the chart's CSV: its label with the unit its values are written in
    /// (`message size (bytes)`, `round trip (ns)`); categories are written by name.
    var csvColumn: String {
        switch unit {
        case .nanoseconds: return label + " (ns)"
        case .bytes: return label + " (bytes)"
        case .bytesPerSecond: return label + " (bytes/s)"
        case .percentile: return label + " (%)"
        case .count, .categories: return label
        }
    }

    /// `value` as the chart's CSV writes it: in the unit of `csvColumn`, never a plot coordinate.
    func csvValue(_ value: Double) -> String {
        switch unit {
        case .percentile: return Self.percentileText(Self.percentile(fromLogOdds: value))
        case .categories(let names):
            let i = Int(value.rounded())
            return names.indices.contains(i) ? TextEscaping.csv(names[i]) : ""
        default: return Format.plain(value)
        }
    }

    /// A percentile q (0–100) as the distance plotted: log10(1/(1−q/100)).
    public static func logOdds(percentile q: Double) -> Double { log10(1 / max(1e-9, 1 - q / 100)) }

    static func percentile(fromLogOdds x: Double) -> Double { 100 * (1 - pow(10, -x)) }

    /// 50, 90, 99, 99.9, 99.99: as few digits as the value needs.
    static func percentileText(_ q: Double) -> String {
        for digits in 0...6 {
            let text = Format.fixed(q, digits: digits)
            if abs((Double(text) ?? q) - q) < 1e-6 { return text }
        }
        return Format.fixed(q, digits: 6)
    }

    /// The ticks between `low` and `high` (data units).
    func ticks(_ low: Double, _ high: Double) -> [Double] {
        switch unit {
        case .categories(let names): return names.indices.map(Double.init)
        case .percentile:
            return [ChartAxis.logOdds(percentile: 50)] + stride(from: 1.0, through: high + 1e-9, by: 1).map { $0 }
        default: break
        }
        if scale == .log {
            let factor: Double
            if case .bytes = unit { factor = 4 } else { factor = 10 }
            var start = pow(factor, floor(log(low) / log(factor)))
            var ticks: [Double] = []
            // Bounded: the range is clamped to finite, normal values, and no axis needs more.
            while start <= high * 1.000_001 && ticks.count < 64 && start > 0 {
                if start >= low * 0.999_999 { ticks.append(start) }
                start *= factor
            }
            if ticks.count < 2 && factor == 10 {
                // Less than a decade: add 2× and 5× ticks.
                var t: [Double] = []
                var d = pow(10, floor(log10(low)))
                while d <= high * 1.000_001 && t.count < 64 && d > 0 {
                    for m in [1.0, 2, 5] where d * m >= low * 0.999_999 && d * m <= high * 1.000_001 { t.append(d * m) }
                    d *= 10
                }
                return t
            }
            return ticks
        }
        let span = max(high - low, 1e-12)
        let raw = span / 5
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? magnitude * 10
        var t = ceil(low / step) * step
        var ticks: [Double] = []
        while t <= high + step * 1e-6 {
            ticks.append(t)
            t += step
        }
        return ticks
    }
}

/// One line (or set of points) of a chart.
public struct ChartSeries: Sendable {
    public var name: String
    public var points: [(x: Double, y: Double)]
    /// Draw the points without a line (categories, spreads).
    public var pointsOnly: Bool
    /// A guide drawn for reference (the diagonal of perfect delivery), not data: left out of the CSV.
    public var reference: Bool
    /// The palette colour (by channel, the same in every chart of a report); nil: by position.
    public var colour: Int?
    /// The dash pattern (by file, or p50 against p99); nil: by position.
    public var dash: Int?
    /// The marker shape (by file); nil: by position.
    public var marker: Int?
    /// The spread across trials at each x: the lowest and highest trial, drawn as a band.
    public var band: [(x: Double, low: Double, high: Double)]

    public init(
        name: String, points: [(x: Double, y: Double)], pointsOnly: Bool = false, reference: Bool = false,
        colour: Int? = nil, dash: Int? = nil, marker: Int? = nil, band: [(x: Double, low: Double, high: Double)] = []
    ) {
        self.name = name
        self.points = points
        self.pointsOnly = pointsOnly
        self.reference = reference
        self.colour = colour
        self.dash = dash
        self.marker = marker
        self.band = band
    }
}

/// A vertical marker line with a label (a knee, an objective).
public struct ChartMarker: Sendable {
    public var x: Double?
    public var y: Double?
    public var label: String

    public init(x: Double? = nil, y: Double? = nil, label: String) {
        self.x = x
        self.y = y
        self.label = label
    }
}

/// A line chart drawn as a standalone SVG document: title, axes with units, readable ticks on log
/// or linear scales, a legend; series told apart by colour, marker shape and dash pattern, so they
/// stay distinguishable printed in grey.
public struct SVGChart: Sendable {
    public var title: String
    public var x: ChartAxis
    public var y: ChartAxis
    public var series: [ChartSeries]
    public var markers: [ChartMarker]
    /// The data extent to scale the axes to (small multiples share one), instead of this chart's own.
    public var extent: (x: (Double, Double), y: (Double, Double))?

    public init(
        title: String, x: ChartAxis, y: ChartAxis, series: [ChartSeries], markers: [ChartMarker] = [],
        extent: (x: (Double, Double), y: (Double, Double))? = nil
    ) {
        self.title = title
        self.x = x
        self.y = y
        self.series = series
        self.markers = markers
        self.extent = extent
    }

    /// Okabe–Ito colours (told apart with colour-blindness), each with its own shape and dash.
    static let colours = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"]
    static let dashes = ["", "6 3", "2 3", "8 3 2 3", "12 4", "4 2 1 2"]

    static let width = 900.0
    static let plotLeft = 90.0
    static let plotTop = 56.0
    static let plotWidth = 470.0
    static let plotHeight = 320.0
    static let height = 430.0
    static let legendRow = 18.0

    /// The chart's data as CSV: `series,X (unit),Y (unit)`, the values the chart shows in the
    /// units named in the header (nanoseconds, bytes, messages/s, percent), categories by name; guides
    /// such as the diagonal are not data and are left out.
    public func csv() -> String {
        let banded = series.contains { !$0.band.isEmpty }
        var header = "series,\(Self.csvField(x.csvColumn)),\(Self.csvField(y.csvColumn))"
        if banded {
            header +=
                ",\(Self.csvField("lowest trial, " + y.csvColumn)),\(Self.csvField("highest trial, " + y.csvColumn))"
        }
        var lines = [header]
        for s in series where !s.reference {
            for p in s.points.sorted(by: { $0.x < $1.x }) where p.x.isFinite && p.y.isFinite {
                var line = "\(Self.csvField(s.name)),\(x.csvValue(p.x)),\(y.csvValue(p.y))"
                if banded {
                    let b = s.band.first { $0.x == p.x }
                    line += "," + (b.map { y.csvValue($0.low) } ?? "") + "," + (b.map { y.csvValue($0.high) } ?? "")
                }
                lines.append(line)
            }
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// One CSV field: names come from results files, so quoted and defused (`TextEscaping.csv`).
    static func csvField(_ text: String) -> String { TextEscaping.csv(text) }

    /// Where series `i` of this chart takes its colour, dash and marker from.
    func style(_ i: Int, _ s: ChartSeries) -> (colour: String, dash: String, marker: Int) {
        // A guide is grey and dashed, whatever a channel's colour: it is not data.
        if s.reference { return ("#888888", "6 3", 0) }
        let colour = s.colour ?? i
        return (
            Self.colours[colour % Self.colours.count],
            Self.dashes[(s.dash ?? (i / Self.colours.count + i)) % Self.dashes.count],
            s.marker ?? i
        )
    }

    /// A text label's box: where it is drawn, for the test that no two overlap (`labelBoxes`).
    struct LabelBox: Equatable {
        var left, top, right, bottom: Double
        func intersects(_ o: LabelBox) -> Bool { left < o.right && o.left < right && top < o.bottom && o.top < bottom }
    }

    /// The box of `text` at (x, y) (its baseline), anchored start, middle or end: widths estimated
    /// at 0.62 em a character (DejaVu Sans, the widest of the fonts asked for, averages under it).
    static func box(_ text: String, x: Double, y: Double, anchor: String, size: Double) -> LabelBox {
        let width = Double(text.count) * size * 0.62
        let left = anchor == "middle" ? x - width / 2 : anchor == "end" ? x - width : x
        return LabelBox(left: left, top: y - size * 0.8, right: left + width, bottom: y + size * 0.25)
    }

    /// Where the y axis's title (turned a quarter left) stands: its baseline clear of the widest
    /// tick label (the glyphs reach 0.8 em left of the baseline, 0.25 em right), never nearer the
    /// edge than their height. (At x = 18 it overprinted "100 MB/s", looked at in Chromium.)
    static func yTitleX(_ leftmostTick: Double) -> Double { max(10, min(18, leftmostTick - 4 - 3)) }

    /// The SVG document.
    public func render() -> String {
        let usable = series.map { s in
            var s = s
            s.points = s.points.filter {
                $0.x.isFinite && $0.y.isFinite && (x.scale == .linear || $0.x > 0) && (y.scale == .linear || $0.y > 0)
            }
            s.band = s.band.filter {
                $0.x.isFinite && $0.low.isFinite && $0.high.isFinite && (x.scale == .linear || $0.x > 0)
                    && (y.scale == .linear || $0.low > 0)
            }
            return s
        }
        // Markers are filtered as points are: a knee at a rate no axis can show is not drawn.
        let markers = self.markers.filter { m in
            (m.x.map { $0.isFinite && (x.scale == .linear || $0 > 0) } ?? true)
                && (m.y.map { $0.isFinite && (y.scale == .linear || $0 > 0) } ?? true)
        }
        var xs = usable.flatMap { $0.points.map(\.x) } + markers.compactMap(\.x)
        var ys =
            usable.flatMap { $0.points.map(\.y) + $0.band.flatMap { [$0.low, $0.high] } } + markers.compactMap(\.y)
        if let extent {
            xs += [extent.x.0, extent.x.1].filter { $0.isFinite && (x.scale == .linear || $0 > 0) }
            ys += [extent.y.0, extent.y.1].filter { $0.isFinite && (y.scale == .linear || $0 > 0) }
        }
        // The legend: one row per series, then one per marker (knees by their tag, the objective).
        let legendRows = usable.count + markers.count
        let height = max(Self.height, Self.plotTop + 8 + Double(legendRows) * Self.legendRow + 12)
        var svg = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(Self.width))" height="\(Int(height))" \
            viewBox="0 0 \(Int(Self.width)) \(Int(height))" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">
            <title>\(Self.escape(title))</title>
            <rect width="100%" height="100%" fill="#ffffff"/>
            <text x="\(Self.plotLeft)" y="24" font-size="15" font-weight="bold">\(Self.escape(title))</text>

            """
        guard let xLow = xs.min(), let xHigh = xs.max(), let yLow = ys.min(), let yHigh = ys.max() else {
            svg += "<text x=\"\(Self.plotLeft)\" y=\"\(Self.plotTop + 40)\">No data for this chart.</text>\n</svg>\n"
            return svg
        }
        let xRange = Self.range(xLow, xHigh, x)
        let yRange = Self.range(yLow, yHigh, y)
        func px(_ v: Double) -> Double { Self.plotLeft + Self.position(v, xRange, x.scale) * Self.plotWidth }
        func py(_ v: Double) -> Double { Self.plotTop + (1 - Self.position(v, yRange, y.scale)) * Self.plotHeight }
        let bottom = Self.plotTop + Self.plotHeight
        let right = Self.plotLeft + Self.plotWidth
        svg +=
            "<rect x=\"\(Self.plotLeft)\" y=\"\(Self.plotTop)\" width=\"\(Self.plotWidth)\" height=\"\(Self.plotHeight)\" fill=\"none\" stroke=\"#444\"/>\n"
        // Tick labels that would overprint the one before are left out (the tick stays).
        var lastRight = -Double.infinity
        for t in x.ticks(xRange.0, xRange.1) {
            let p = Self.f(px(t))
            svg += "<line x1=\"\(p)\" y1=\"\(Self.plotTop)\" x2=\"\(p)\" y2=\"\(bottom)\" stroke=\"#ddd\"/>\n"
            svg += "<line x1=\"\(p)\" y1=\"\(bottom)\" x2=\"\(p)\" y2=\"\(bottom + 5)\" stroke=\"#444\"/>\n"
            let label = x.text(t)
            let box = Self.box(label, x: px(t), y: bottom + 18, anchor: "middle", size: 12)
            guard box.left > lastRight + 4 else { continue }
            lastRight = box.right
            svg += "<text x=\"\(p)\" y=\"\(bottom + 18)\" text-anchor=\"middle\">\(Self.escape(label))</text>\n"
        }
        var lastTop = Double.infinity
        var leftmost = Self.plotLeft
        for t in y.ticks(yRange.0, yRange.1) {
            let p = Self.f(py(t))
            svg += "<line x1=\"\(Self.plotLeft)\" y1=\"\(p)\" x2=\"\(right)\" y2=\"\(p)\" stroke=\"#ddd\"/>\n"
            svg +=
                "<line x1=\"\(Self.plotLeft - 5)\" y1=\"\(p)\" x2=\"\(Self.plotLeft)\" y2=\"\(p)\" stroke=\"#444\"/>\n"
            let box = Self.box(y.text(t), x: Self.plotLeft - 8, y: py(t) + 4, anchor: "end", size: 12)
            guard box.bottom < lastTop - 2 else { continue }
            lastTop = box.top
            leftmost = min(leftmost, box.left)
            svg +=
                "<text x=\"\(Self.plotLeft - 8)\" y=\"\(Self.f(py(t) + 4))\" text-anchor=\"end\">\(Self.escape(y.text(t)))</text>\n"
        }
        svg +=
            "<text x=\"\(Self.f(Self.plotLeft + Self.plotWidth / 2))\" y=\"\(bottom + 40)\" text-anchor=\"middle\">\(Self.escape(x.label))</text>\n"
        svg +=
            "<text transform=\"translate(\(Self.f(Self.yTitleX(leftmost))) \(Self.f(Self.plotTop + Self.plotHeight / 2))) rotate(-90)\" text-anchor=\"middle\">\(Self.escape(y.label))</text>\n"
        // Bands first, under every line.
        for (i, s) in usable.enumerated() where s.band.count > 1 {
            let colour = style(i, s).colour
            let band = s.band.sorted { $0.x < $1.x }
            let outline =
                band.map { "\(Self.f(px($0.x))),\(Self.f(py($0.high)))" }
                + band.reversed().map { "\(Self.f(px($0.x))),\(Self.f(py($0.low)))" }
            svg +=
                "<polygon points=\"\(outline.joined(separator: " "))\" fill=\"\(colour)\" fill-opacity=\"0.13\" stroke=\"none\"><title>\(Self.escape(s.name)): lowest to highest trial</title></polygon>\n"
        }
        // Marker lines, their labels kept off the plot: a knee gets a tag above the plot (K1, K2,
        // moved right until it clears the one before), named in the legend; the objective is
        // named in the legend.
        var tags: [String] = []
        var tagRight = -Double.infinity
        for m in markers {
            if let mx = m.x {
                let p = Self.f(px(mx))
                let tag = "K\(tags.count + 1)"
                tags.append(tag)
                svg +=
                    "<line x1=\"\(p)\" y1=\"\(Self.plotTop)\" x2=\"\(p)\" y2=\"\(bottom)\" stroke=\"#B00020\" stroke-dasharray=\"4 3\"><title>\(Self.escape(m.label))</title></line>\n"
                var box = Self.box(tag, x: px(mx), y: Self.plotTop - 6, anchor: "middle", size: 11)
                if box.left < tagRight + 3 {
                    let shift = tagRight + 3 - box.left
                    box.left += shift
                    box.right += shift
                }
                tagRight = box.right
                svg +=
                    "<text x=\"\(Self.f(box.left))\" y=\"\(Self.f(Self.plotTop - 6))\" fill=\"#B00020\" font-size=\"11\">\(tag)<title>\(Self.escape(m.label))</title></text>\n"
            }
            if let my = m.y {
                let p = Self.f(py(my))
                svg +=
                    "<line x1=\"\(Self.plotLeft)\" y1=\"\(p)\" x2=\"\(right)\" y2=\"\(p)\" stroke=\"#B00020\" stroke-dasharray=\"4 3\"><title>\(Self.escape(m.label))</title></line>\n"
            }
        }
        for (i, s) in usable.enumerated() {
            let (colour, dash, marker) = style(i, s)
            let points = s.points.sorted { $0.x < $1.x }
            if !s.pointsOnly && points.count > 1 {
                let path = points.map { "\(Self.f(px($0.x))),\(Self.f(py($0.y)))" }.joined(separator: " ")
                svg +=
                    "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash.isEmpty ? "" : " stroke-dasharray=\"\(dash)\"")/>\n"
            }
            if !s.reference {
                for p in points {
                    svg +=
                        "<g><title>\(Self.escape(s.name)): \(Self.escape(x.text(p.x))) → \(Self.escape(y.text(p.y)))</title>"
                        + Self.marker(marker, at: px(p.x), py(p.y), colour: colour).dropLast() + "</g>\n"
                }
            }
            let ly = Self.plotTop + 8 + Double(i) * Self.legendRow
            let lx = right + 16
            svg += "<g><title>\(Self.escape(s.name))</title>"
            svg +=
                "<line x1=\"\(Self.f(lx))\" y1=\"\(Self.f(ly))\" x2=\"\(Self.f(lx + 28))\" y2=\"\(Self.f(ly))\" stroke=\"\(colour)\" stroke-width=\"2\"\(dash.isEmpty || s.pointsOnly ? "" : " stroke-dasharray=\"\(dash)\"")/>"
            if !s.reference { svg += Self.marker(marker, at: lx + 14, ly, colour: colour).dropLast() }
            svg +=
                "<text x=\"\(Self.f(lx + 34))\" y=\"\(Self.f(ly + 4))\">\(Self.escape(Self.shorten(s.name)))</text></g>\n"
        }
        var row = usable.count
        var tagIndex = 0
        for m in markers {
            let ly = Self.plotTop + 8 + Double(row) * Self.legendRow
            let lx = right + 16
            row += 1
            let name: String
            if m.x != nil {
                name = "\(tags[tagIndex]) \(m.label)"
                tagIndex += 1
            } else {
                name = m.label
            }
            svg +=
                "<g><title>\(Self.escape(m.label))</title><line x1=\"\(Self.f(lx))\" y1=\"\(Self.f(ly))\" x2=\"\(Self.f(lx + 28))\" y2=\"\(Self.f(ly))\" stroke=\"#B00020\" stroke-dasharray=\"4 3\"/>"
            svg +=
                "<text x=\"\(Self.f(lx + 34))\" y=\"\(Self.f(ly + 4))\" fill=\"#B00020\">\(Self.escape(Self.shorten(name)))</text></g>\n"
        }
        svg += "</svg>\n"
        return svg
    }

    /// The plotted range: padded a little, and for log scales whole steps around the data.
    static func range(_ low: Double, _ high: Double, _ axis: ChartAxis) -> (Double, Double) {
        if case .categories(let names) = axis.unit { return (-0.5, Double(max(names.count, 1)) - 0.5) }
        if case .percentile = axis.unit { return (ChartAxis.logOdds(percentile: 50) - 0.05, max(1, ceil(high))) }
        if axis.scale == .log {
            let factor: Double
            if case .bytes = axis.unit { factor = 4 } else { factor = 10 }
            // Clamped to what a log axis can draw: no zero, no infinity, whatever a file holds.
            let low = min(max(low, 1e-12), 1e300)
            let high = min(max(high, low), 1e300)
            let lo = pow(factor, floor(log(low) / log(factor) + 1e-9))
            var hi = pow(factor, ceil(log(high) / log(factor) - 1e-9))
            if hi <= lo { hi = lo * factor }
            return (lo, hi)
        }
        let lo = min(0, low)
        let hi = high <= lo ? lo + 1 : high * 1.08
        return (lo, hi)
    }

    /// Where `v` falls in `range`, from 0 to 1.
    static func position(_ v: Double, _ range: (Double, Double), _ scale: ChartAxis.Scale) -> Double {
        switch scale {
        case .linear: return (v - range.0) / (range.1 - range.0)
        case .log: return (log(v) - log(range.0)) / (log(range.1) - log(range.0))
        }
    }

    /// Series `i`'s marker: circle, square, triangle, diamond, cross, plus, in turn.
    static func marker(_ i: Int, at x: Double, _ y: Double, colour: String) -> String {
        let (cx, cy) = (f(x), f(y))
        switch i % 6 {
        case 0: return "<circle cx=\"\(cx)\" cy=\"\(cy)\" r=\"4\" fill=\"\(colour)\"/>\n"
        case 1: return "<rect x=\"\(f(x - 4))\" y=\"\(f(y - 4))\" width=\"8\" height=\"8\" fill=\"\(colour)\"/>\n"
        case 2:
            return
                "<polygon points=\"\(f(x)),\(f(y - 5)) \(f(x + 5)),\(f(y + 4)) \(f(x - 5)),\(f(y + 4))\" fill=\"\(colour)\"/>\n"
        case 3:
            return
                "<polygon points=\"\(f(x)),\(f(y - 5)) \(f(x + 5)),\(f(y)) \(f(x)),\(f(y + 5)) \(f(x - 5)),\(f(y))\" fill=\"white\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
        case 4:
            return
                "<path d=\"M\(f(x - 4)) \(f(y - 4))L\(f(x + 4)) \(f(y + 4))M\(f(x - 4)) \(f(y + 4))L\(f(x + 4)) \(f(y - 4))\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
        default:
            return
                "<path d=\"M\(f(x - 5)) \(cy)L\(f(x + 5)) \(cy)M\(cx) \(f(y - 5))L\(cx) \(f(y + 5))\" stroke=\"\(colour)\" stroke-width=\"2\"/>\n"
        }
    }

    /// A legend name cut to what fits right of the plot (the whole name is the entry's tooltip).
    static func shorten(_ name: String) -> String { name.count > 38 ? String(name.prefix(37)) + "…" : name }

    static func f(_ v: Double) -> String { Format.fixed(v, digits: 1) }

    /// Text made safe for XML: the references, and no character XML 1.0 forbids.
    public static func escape(_ text: String) -> String { TextEscaping.xml(text) }
}
