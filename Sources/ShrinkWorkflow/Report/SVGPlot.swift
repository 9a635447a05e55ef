import Foundation
import ShrinkBuild

/// A minimal, dependency-free SVG chart: lines and scatter points on linear or log axes.
/// Reports must render anywhere a Markdown file does, so plots are plain SVG files.
public struct SVGPlot: Sendable {
    /// One series.
    public struct Series: Sendable {
        /// Legend label.
        public var label: String
        /// Points (x, y).
        public var points: [(Double, Double)]
        /// Draw a line through the points (otherwise only markers).
        public var line: Bool
        /// Marker radius; larger points stand out (the chosen configuration).
        public var radius: Double
        /// CSS colour.
        public var color: String

        /// A series.
        public init(label: String, points: [(Double, Double)], line: Bool, radius: Double = 3, color: String) {
            self.label = label
            self.points = points
            self.line = line
            self.radius = radius
            self.color = color
        }
    }

    /// Title above the chart.
    public var title: String
    /// Axis labels.
    public var xLabel: String, yLabel: String
    /// Logarithmic x axis (costs span orders of magnitude).
    public var logX: Bool
    /// The series, drawn in order.
    public var series: [Series]
    /// An optional horizontal reference line (the acceptance bound) with its label.
    public var horizontalLine: (y: Double, label: String)?
    /// A fixed y range (zoomed on what matters); points outside it are drawn hollow on the edge
    /// they fall beyond, and counted in the legend. Nil: fit every point.
    public var yRange: (low: Double, high: Double)?

    /// A plot.
    public init(title: String, xLabel: String, yLabel: String, logX: Bool = false, series: [Series],
                horizontalLine: (y: Double, label: String)? = nil, yRange: (low: Double, high: Double)? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logX = logX
        self.series = series
        self.horizontalLine = horizontalLine
        self.yRange = yRange
    }

    /// The palette series take colours from, in order.
    public static let palette = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f"]

    /// Renders the chart as an SVG document.
    public func render(width: Double = 640, height: Double = 400) -> String {
        let left = 70.0, right = 160.0, top = 36.0, bottom = 50.0
        let pw = width - left - right, ph = height - top - bottom
        let tx: (Double) -> Double = { logX ? log10(max($0, 1e-12)) : $0 }
        var xs = series.flatMap { $0.points.map { tx($0.0) } }
        var ys = series.flatMap { $0.points.map(\.1) }
        if let h = horizontalLine { ys.append(h.y) }
        if xs.isEmpty { xs = [0, 1] }
        if ys.isEmpty { ys = [0, 1] }
        var (x0, x1) = (xs.min()!, xs.max()!)
        var (y0, y1) = yRange.map { ($0.low, $0.high) } ?? (ys.min()!, ys.max()!)
        if x1 - x0 < 1e-12 { x0 -= 0.5; x1 += 0.5 }
        if y1 - y0 < 1e-12 {
            let pad = max(abs(y0) * 0.01, 1e-6)
            y0 -= pad; y1 += pad
        }
        if yRange == nil {
            let padY = (y1 - y0) * 0.06
            y0 -= padY; y1 += padY
        }
        if logX { x0 -= 0.03 * (x1 - x0); x1 += 0.03 * (x1 - x0) }
        let sx: (Double) -> Double = { left + (tx($0) - x0) / (x1 - x0) * pw }
        let sy: (Double) -> Double = { top + ph - (min(max($0, y0), y1) - y0) / (y1 - y0) * ph }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(n(width))" height="\(n(height))" viewBox="0 0 \(n(width)) \(n(height))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(n(left))" y="20" font-size="14" font-weight="bold">\(esc(title))</text>
        <rect x="\(n(left))" y="\(n(top))" width="\(n(pw))" height="\(n(ph))" fill="none" stroke="#999"/>

        """
        let yTicks = SVGPlot.niceTicks(y0, y1)
        for value in yTicks.values {
            let py = sy(value)
            out += "<line x1=\"\(n(left))\" y1=\"\(n(py))\" x2=\"\(n(left + pw))\" y2=\"\(n(py))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(n(left - 6))\" y=\"\(n(py + 4))\" text-anchor=\"end\">\(SVGPlot.tickLabel(value, step: yTicks.step))</text>\n"
        }
        let xTicks = logX ? SVGPlot.logTicks(pow(10, x0), pow(10, x1)) : SVGPlot.niceTicks(x0, x1).values
        let xStep = logX ? 0 : SVGPlot.niceTicks(x0, x1).step
        for value in xTicks {
            let px = sx(value)
            out += "<line x1=\"\(n(px))\" y1=\"\(n(top + ph))\" x2=\"\(n(px))\" y2=\"\(n(top + ph + 4))\" stroke=\"#999\"/>"
            out += "<text x=\"\(n(px))\" y=\"\(n(top + ph + 16))\" text-anchor=\"middle\">\(SVGPlot.tickLabel(value, step: xStep))</text>\n"
        }
        out += "<text x=\"\(n(left + pw / 2))\" y=\"\(n(height - 10))\" text-anchor=\"middle\">\(esc(xLabel))</text>\n"
        out += "<text transform=\"translate(16 \(n(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\">\(esc(yLabel))</text>\n"
        if let h = horizontalLine, h.y >= y0, h.y <= y1 {
            let py = sy(h.y)
            out += "<line x1=\"\(n(left))\" y1=\"\(n(py))\" x2=\"\(n(left + pw))\" y2=\"\(n(py))\" stroke=\"#d62728\" stroke-dasharray=\"5 4\"/>"
            out += "<text x=\"\(n(left + pw - 4))\" y=\"\(n(py - 4))\" text-anchor=\"end\" fill=\"#d62728\">\(esc(h.label))</text>\n"
        }
        var legendRow = 0
        for s in series {
            let pts = s.points.sorted { $0.0 < $1.0 }
            if s.line && pts.count > 1 {
                let path = pts.map { "\(n(sx($0.0))),\(n(sy($0.1)))" }.joined(separator: " ")
                out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\"/>\n"
            }
            var outside = 0
            for p in pts {
                if p.1 < y0 || p.1 > y1 {
                    outside += 1
                    out += "<circle cx=\"\(n(sx(p.0)))\" cy=\"\(n(sy(p.1)))\" r=\"\(n(s.radius))\" fill=\"white\" stroke=\"\(s.color)\"/>"
                } else {
                    out += "<circle cx=\"\(n(sx(p.0)))\" cy=\"\(n(sy(p.1)))\" r=\"\(n(s.radius))\" fill=\"\(s.color)\"/>"
                }
            }
            let ly = top + 14 + Double(legendRow) * 16
            legendRow += 1
            out += "\n<rect x=\"\(n(left + pw + 12))\" y=\"\(n(ly - 8))\" width=\"10\" height=\"10\" fill=\"\(s.color)\"/>"
            out += "<text x=\"\(n(left + pw + 28))\" y=\"\(n(ly + 1))\">\(esc(s.label))</text>\n"
            if outside > 0 {
                let oy = top + 14 + Double(legendRow) * 16
                legendRow += 1
                out += "<text x=\"\(n(left + pw + 28))\" y=\"\(n(oy + 1))\" fill=\"#666\">(\(outside) off the scale, hollow)</text>\n"
            }
        }
        return out + "</svg>\n"
    }

    /// About `count` round tick values (multiples of 1, 2 or 5 × 10ᵏ) covering [low, high], and their step.
    static func niceTicks(_ low: Double, _ high: Double, count: Int = 6) -> (values: [Double], step: Double) {
        guard high > low, low.isFinite, high.isFinite else { return ([low], 1) }
        let raw = (high - low) / Double(max(count - 1, 1))
        let magnitude = pow(10, floor(log10(raw)))
        let step = [1.0, 2, 2.5, 5, 10].map { $0 * magnitude }.first { $0 >= raw } ?? 10 * magnitude
        var values: [Double] = []
        var v = (low / step).rounded(.up) * step
        while v <= high + step * 1e-9 {
            values.append(abs(v) < step * 1e-9 ? 0 : v)
            v += step
        }
        return (values, step)
    }

    /// 1, 2 and 5 × 10ᵏ within [low, high] (at least two values: the ends when none fall inside).
    static func logTicks(_ low: Double, _ high: Double) -> [Double] {
        guard high > low, low > 0 else { return [low] }
        var values: [Double] = []
        var decade = pow(10, floor(log10(low)))
        while decade <= high {
            for m in [1.0, 2, 5] where m * decade >= low && m * decade <= high { values.append(m * decade) }
            decade *= 10
        }
        if values.count > 7 { values = values.filter { abs(log10($0).rounded() - log10($0)) < 1e-9 } }
        return values.count >= 2 ? values : [low, high]
    }

    /// A tick label rounded to what the step resolves: `0.975`, `12k`, `1.5M`.
    static func tickLabel(_ value: Double, step: Double) -> String {
        let a = abs(value)
        func trimmed(_ text: String) -> String {
            guard text.contains(".") else { return text }
            var t = text
            while t.hasSuffix("0") { t.removeLast() }
            if t.hasSuffix(".") { t.removeLast() }
            return t
        }
        if a >= 1e6 { return trimmed(String(format: "%.2f", value / 1e6)) + "M" }
        if a >= 1e4 { return trimmed(String(format: "%.1f", value / 1e3)) + "k" }
        if step > 0 {
            let decimals = max(0, Int(-floor(log10(step) + 1e-9)) + (step / pow(10, floor(log10(step))) == 2.5 ? 1 : 0))
            return String(format: "%.\(min(decimals, 8))f", value)
        }
        return trimmed(String(format: a >= 1 ? "%.1f" : "%.3g", value))
    }

    private func n(_ v: Double) -> String { String(format: "%.1f", v) }

    private func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
