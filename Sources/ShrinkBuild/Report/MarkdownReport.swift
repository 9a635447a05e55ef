import Foundation
import ShrinkCompress

/// Renders a `RunReport` as Markdown plus SVG plots: what a reviewer reads in the pull request.
public struct MarkdownReport: Sendable {
    /// The report.
    public var report: RunReport
    /// File name stem for the plots (`lenet` → `lenet.sensitivity.svg`).
    public var stem: String

    /// A renderer.
    public init(report: RunReport, stem: String) {
        self.report = report
        self.stem = stem
    }

    /// The plot files to write beside the Markdown: name → SVG text.
    public func plots() -> [String: String] {
        guard let search = report.search else { return [:] }
        var out: [String: String] = [:]
        let curves = search.sensitivity.keys.sorted().enumerated().map { k, layer in
            SVGPlot.Series(label: layer, points: search.sensitivity[layer]!.map { (Double($0.cost), $0.drop * 100) },
                           line: true, color: SVGPlot.palette[k % SVGPlot.palette.count])
        }
        if !curves.isEmpty {
            out["\(stem).sensitivity.svg"] = SVGPlot(
                title: "Sensitivity: metric drop with one layer compressed", xLabel: "layer \(search.objective) (log)",
                yLabel: "drop (points)", logX: true, series: curves).render()
        }
        let searchPts = search.visited.filter { $0.set == "search" && !$0.chosen }
        let fullPts = search.visited.filter { $0.set == "full" && !$0.chosen }
        let chosen = search.visited.filter { $0.chosen && $0.set == "full" }
        func xy(_ p: [TradeoffPoint]) -> [(Double, Double)] {
            p.map { (Double(search.objective == "params" ? $0.params : $0.macs), $0.metric) }
        }
        out["\(stem).tradeoff.svg"] = SVGPlot(
            title: "Candidates visited: \(report.metric) vs model \(search.objective)",
            xLabel: "model \(search.objective) (log)", yLabel: report.metric, logX: true,
            series: [
                .init(label: "search data", points: xy(searchPts), line: false, radius: 2.5, color: "#9ecae1"),
                .init(label: "full check", points: xy(fullPts), line: false, radius: 3.5, color: "#1f77b4"),
                .init(label: "chosen", points: xy(chosen), line: false, radius: 6, color: "#d62728"),
            ],
            horizontalLine: (report.baseline - (boundValue ?? 0), "bound")).render()
        return out
    }

    /// The bound as a number in metric units, when it is absolute and accuracy-like.
    private var boundValue: Double? {
        guard let r = report.bound.split(separator: "≤").last else { return nil }
        return Double(r.trimmingCharacters(in: .whitespaces))
    }

    /// The Markdown text.
    public func render() -> String {
        let r = report
        var md = "# Shrink report: \(r.pipeline)\(r.variant.map { " (variant \($0))" } ?? "")\n\n"
        md += r.passed
            ? "**Result: passed.** "
            : "**Result: FAILED — the bound could not be met; the model below is the best found and was not exported as passing.** "
        md += "\(r.metric) \(pct(r.baseline)) → \(pct(r.final)) on \(r.samples) samples (\(r.bound)); "
        md += "params \(x(r.paramsReduction)) smaller, MACs \(x(r.macsReduction)) smaller.\n\n"
        md += "| | original | compressed | reduction |\n|---|---:|---:|---:|\n"
        md += "| parameters | \(int(r.before.params)) | \(int(r.after.params)) | \(x(r.paramsReduction)) |\n"
        md += "| MACs / sample | \(int(r.before.macs)) | \(int(r.after.macs)) | \(x(r.macsReduction)) |\n"
        md += "| \(r.metric) | \(pct(r.baseline)) | \(pct(r.final)) | \(String(format: "%+.2f", (r.final - r.baseline) * 100)) points |\n\n"
        md += "Model: `\(r.model)` (sha256 `\(r.modelDigest.prefix(12))…`)"
        if let d = r.exportedDigest { md += "; exported model sha256 `\(d.prefix(12))…`" }
        md += ".\n\n## Layers\n\n"
        md += "| layer | op | method | rank | fit | rel. error | params before → after | MACs before → after |\n"
        md += "|---|---|---|---|---|---:|---:|---:|\n"
        for l in r.layers {
            let rank = l.rank.map { $0.map(String.init).joined(separator: ",") } ?? "—"
            let err = l.relativeError.map { String(format: "%.4f", $0) } ?? "—"
            md += "| \(l.name) | \(l.op) | \(l.method) | \(rank) | \(l.fit) | \(err) | "
            md += "\(int(l.before.params)) → \(int(l.after.params)) | \(int(l.before.macs)) → \(int(l.after.macs)) |\n"
        }
        let notes = r.layers.compactMap { l in l.note.map { "- `\(l.name)`: \($0)" } }
        if !notes.isEmpty { md += "\n" + notes.joined(separator: "\n") + "\n" }
        if let s = r.search {
            md += "\n## Search\n\nPolicy `\(s.policy)`, objective `\(s.objective)`, \(s.evaluations) candidate evaluations.\n\n"
            for n in s.notes { md += "- \(n)\n" }
            let p = plots()
            if p["\(stem).sensitivity.svg"] != nil {
                md += "\n![sensitivity curves](\(stem).sensitivity.svg)\n"
            }
            md += "\n![accuracy vs cost](\(stem).tradeoff.svg)\n"
        }
        return md
    }

    private func pct(_ v: Double) -> String { report.metric == "mse" ? String(format: "%.5f", v) : String(format: "%.2f %%", v * 100) }
    private func x(_ v: Double) -> String { String(format: "%.2f×", v) }
    private func int(_ v: Int) -> String {
        let s = String(v)
        var out = ""
        for (i, c) in s.reversed().enumerated() {
            if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }
}
