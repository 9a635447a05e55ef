import Foundation

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

    /// A plot.
    public init(title: String, xLabel: String, yLabel: String, logX: Bool = false, series: [Series],
                horizontalLine: (y: Double, label: String)? = nil) {
        self.title = title
        self.xLabel = xLabel
        self.yLabel = yLabel
        self.logX = logX
        self.series = series
        self.horizontalLine = horizontalLine
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
        var (x0, x1) = (xs.min()!, xs.max()!), (y0, y1) = (ys.min()!, ys.max()!)
        if x1 - x0 < 1e-12 { x0 -= 0.5; x1 += 0.5 }
        if y1 - y0 < 1e-12 { y0 -= 0.5; y1 += 0.5 }
        let padY = (y1 - y0) * 0.06
        y0 -= padY; y1 += padY
        let sx: (Double) -> Double = { left + (tx($0) - x0) / (x1 - x0) * pw }
        let sy: (Double) -> Double = { top + ph - ($0 - y0) / (y1 - y0) * ph }
        var out = """
        <svg xmlns="http://www.w3.org/2000/svg" width="\(n(width))" height="\(n(height))" viewBox="0 0 \(n(width)) \(n(height))" font-family="sans-serif" font-size="11">
        <rect width="100%" height="100%" fill="white"/>
        <text x="\(n(left))" y="20" font-size="14" font-weight="bold">\(esc(title))</text>
        <rect x="\(n(left))" y="\(n(top))" width="\(n(pw))" height="\(n(ph))" fill="none" stroke="#999"/>

        """
        for i in 0...4 {
            let fy = y0 + (y1 - y0) * Double(i) / 4, py = sy(fy)
            out += "<line x1=\"\(n(left))\" y1=\"\(n(py))\" x2=\"\(n(left + pw))\" y2=\"\(n(py))\" stroke=\"#eee\"/>"
            out += "<text x=\"\(n(left - 6))\" y=\"\(n(py + 4))\" text-anchor=\"end\">\(label(fy))</text>\n"
            let fx = x0 + (x1 - x0) * Double(i) / 4, px = left + pw * Double(i) / 4
            let shown = logX ? pow(10, fx) : fx
            out += "<text x=\"\(n(px))\" y=\"\(n(top + ph + 16))\" text-anchor=\"middle\">\(label(shown))</text>\n"
        }
        out += "<text x=\"\(n(left + pw / 2))\" y=\"\(n(height - 10))\" text-anchor=\"middle\">\(esc(xLabel))</text>\n"
        out += "<text transform=\"translate(16 \(n(top + ph / 2))) rotate(-90)\" text-anchor=\"middle\">\(esc(yLabel))</text>\n"
        if let h = horizontalLine {
            let py = sy(h.y)
            out += "<line x1=\"\(n(left))\" y1=\"\(n(py))\" x2=\"\(n(left + pw))\" y2=\"\(n(py))\" stroke=\"#d62728\" stroke-dasharray=\"5 4\"/>"
            out += "<text x=\"\(n(left + pw - 4))\" y=\"\(n(py - 4))\" text-anchor=\"end\" fill=\"#d62728\">\(esc(h.label))</text>\n"
        }
        for (k, s) in series.enumerated() {
            let pts = s.points.sorted { $0.0 < $1.0 }
            if s.line && pts.count > 1 {
                let path = pts.map { "\(n(sx($0.0))),\(n(sy($0.1)))" }.joined(separator: " ")
                out += "<polyline points=\"\(path)\" fill=\"none\" stroke=\"\(s.color)\" stroke-width=\"1.5\"/>\n"
            }
            for p in pts {
                out += "<circle cx=\"\(n(sx(p.0)))\" cy=\"\(n(sy(p.1)))\" r=\"\(n(s.radius))\" fill=\"\(s.color)\"/>"
            }
            let ly = top + 14 + Double(k) * 16
            out += "\n<rect x=\"\(n(left + pw + 12))\" y=\"\(n(ly - 8))\" width=\"10\" height=\"10\" fill=\"\(s.color)\"/>"
            out += "<text x=\"\(n(left + pw + 28))\" y=\"\(n(ly + 1))\">\(esc(s.label))</text>\n"
        }
        return out + "</svg>\n"
    }

    private func n(_ v: Double) -> String { String(format: "%.1f", v) }

    private func label(_ v: Double) -> String {
        let a = abs(v)
        if a >= 1e6 { return String(format: "%.1fM", v / 1e6) }
        if a >= 1e3 { return String(format: "%.1fk", v / 1e3) }
        if a >= 1 || a == 0 { return String(format: "%.2f", v) }
        return String(format: "%.4f", v)
    }

    private func esc(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;")
    }
}
