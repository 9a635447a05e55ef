import Foundation
import ShrinkBuild
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

    /// Accuracy-like metrics are fractions shown as percentages, changes in percentage points;
    /// other metrics (MSE, an evaluator's number) are shown as they are.
    private var isFraction: Bool { ["top1", "top5", "agreement"].contains(report.metric) || report.metric.hasPrefix("topk") }

    /// The plot files to write beside the Markdown: name → SVG text.
    public func plots() -> [String: String] {
        guard let search = report.search else { return [:] }
        var out: [String: String] = [:]
        let scale = isFraction ? 100.0 : 1.0
        let curves = search.sensitivity.keys.sorted().enumerated().map { k, layer in
            SVGPlot.Series(label: layer, points: search.sensitivity[layer]!.map { (Double($0.cost), $0.drop * scale) },
                           line: true, color: SVGPlot.palette[k % SVGPlot.palette.count])
        }
        if !curves.isEmpty {
            out["\(stem).sensitivity.svg"] = SVGPlot(
                title: "Sensitivity: metric drop with one layer compressed", xLabel: "layer \(search.objective) (log)",
                yLabel: isFraction ? "drop (percentage points)" : "drop (\(report.metric))", logX: true, series: curves).render()
        }
        let searchPts = search.visited.filter { $0.set == "search" && !$0.chosen }
        let fullPts = search.visited.filter { $0.set == "full" && !$0.chosen }
        // The chosen point as the deciding set measured it (verify when held out).
        let decided = search.visited.contains { $0.set == "verify" } ? "verify" : "full"
        let chosen = search.visited.filter { $0.chosen && $0.set == decided }
        func xy(_ p: [TradeoffPoint]) -> [(Double, Double)] {
            p.map { (Double(search.objective == "params" ? $0.params : $0.macs), $0.metric) }
        }
        out["\(stem).tradeoff.svg"] = SVGPlot(
            title: "Candidates visited: \(report.metric) vs model \(search.objective)",
            xLabel: "model \(search.objective) (log)", yLabel: report.metric, logX: true,
            series: [
                .init(label: "search data", points: xy(searchPts), line: false, radius: 2.5, color: "#9ecae1"),
                .init(label: "whole search set", points: xy(fullPts), line: false, radius: 3.5, color: "#1f77b4"),
                .init(label: "chosen", points: xy(chosen), line: false, radius: 6, color: "#d62728"),
            ],
            horizontalLine: report.threshold.map { ($0, "bound") },
            yRange: tradeoffRange(search.visited.map(\.metric))).render()
        return out
    }

    /// The trade-off plot's y range, zoomed on the bound: from the best value seen to as far past
    /// the bound as the bound is from it, so candidates near the bound are told apart; candidates
    /// far beyond it are drawn on the edge. Nil when the bound is unknown.
    func tradeoffRange(_ values: [Double]) -> (low: Double, high: Double)? {
        guard let bound = report.threshold, let higher = report.higherIsBetter else { return nil }
        let all = values + [report.baseline]
        let best = higher ? all.max()! : all.min()!
        var span = abs(best - bound)
        if span < 1e-12 { span = max(abs(bound) * 0.01, 1e-6) }
        let margin = span * 0.08
        return higher ? (bound - span - margin, best + margin) : (best - margin, bound + span + margin)
    }

    /// The Markdown text.
    public func render() -> String {
        let r = report
        var md = "# Shrink report: \(cell(r.pipeline))\(r.variant.map { " (variant \(cell($0)))" } ?? "")\n\n"
        if let d = r.device, !d.withinBudget {
            md += "**Result: FAILED — the model does not fit the device's budget (\(d.budgetProblems.joined(separator: "; "))); it was not exported.** "
        } else if !r.passed {
            md += "**Result: FAILED — the bound could not be met; the model below is the best found and was not exported.** "
        } else if r.grew {
            md += "**Result: bound met, but the model GREW** (a rule allows growth); it is not smaller than the original. "
        } else {
            md += "**Result: passed.** "
        }
        let heldOut = r.heldOut == true
        md += "\(r.metric) \(value(r.baseline)) → \(value(r.final)) on \(r.samples) \(heldOut ? "held-out verify " : "")samples (\(r.bound)); "
        md += "params \(change(r.paramsReduction)), MACs \(change(r.macsReduction)).\n\n"
        md += "| | original | compressed | change |\n|---|---:|---:|---:|\n"
        md += "| parameters | \(int(r.before.params)) | \(int(r.after.params)) | \(change(r.paramsReduction)) |\n"
        md += "| MACs / sample | \(int(r.before.macs)) | \(int(r.after.macs)) | \(change(r.macsReduction)) |\n"
        if heldOut, let sb = r.searchBaseline, let sf = r.searchFinal, let sn = r.searchSamples {
            md += "| \(cell(r.metric)), search set (\(int(sn)) samples) | \(value(sb)) | \(value(sf)) | \(difference(sf - sb)) |\n"
            md += "| \(cell(r.metric)), verify set (\(int(r.samples)) unseen samples; decides) | \(value(r.baseline)) | \(value(r.final)) | \(difference(r.final - r.baseline)) |\n\n"
            md += "The search tuned its choice on the search set only; the bound is certified on the verify set, "
            md += "which no step of the search looked at.\n\n"
        } else {
            md += "| \(cell(r.metric)) | \(value(r.baseline)) | \(value(r.final)) | \(difference(r.final - r.baseline)) |\n\n"
        }
        md += fitAndMarginText()
        md += "Model: `\(code(r.model))` (sha256 `\(r.modelDigest.prefix(12))…`)"
        if let d = r.exportedDigest { md += "; exported model sha256 `\(d.prefix(12))…`" }
        md += ".\n\n## Layers\n\n"
        md += "Rank: the decomposition's rank (output, input ranks for Tucker-2). Weight error: ‖W − Ŵ‖ / ‖W‖ "
        md += "of the layer's weight, in percent.\n\n"
        md += "| layer | op | method | rank | fit | weight error | params before → after | MACs before → after |\n"
        md += "|---|---|---|---|---|---:|---:|---:|\n"
        for l in r.layers {
            let rank = l.rank.map { $0.map(String.init).joined(separator: ",") } ?? "—"
            let err = l.relativeError.map { String(format: "%.2f %%", $0 * 100) } ?? "—"
            md += "| \(cell(l.name)) | \(cell(l.op)) | \(cell(l.method)) | \(rank) | \(cell(l.fit)) | \(err) | "
            md += "\(int(l.before.params)) → \(int(l.after.params)) | \(int(l.before.macs)) → \(int(l.after.macs)) |\n"
        }
        let notes = r.layers.compactMap { l in l.note.map { "- `\(code(l.name))`: \(line($0))" } }
        if !notes.isEmpty { md += "\n" + notes.joined(separator: "\n") + "\n" }
        if let device = r.device { md += deviceSection(device) }
        if let s = r.search {
            md += "\n## Search\n\nPolicy `\(s.policy)`, objective \(s.rankedBy.map { "`\($0)` (the device library's exact bytes; rank options ordered by `\(s.objective)`)" } ?? "`\(s.objective)`"), \(s.evaluations) candidate evaluations.\n\n"
            if let b = s.boundBy {
                md += b == "accuracy" ? "The choice was bound by the accuracy bound; it fits the device's budgets.\n\n"
                    : "The choice was bound by the device's \(b) budget: the search compressed further than the accuracy bound alone required.\n\n"
            }
            for n in s.notes { md += "- \(line(n))\n" }
            let p = plots()
            if p["\(stem).sensitivity.svg"] != nil {
                md += "\n![sensitivity curves](\(stem).sensitivity.svg)\n"
            }
            md += "\n![accuracy vs cost](\(stem).tradeoff.svg)\n"
        }
        return md
    }

    func value(_ v: Double) -> String { isFraction ? String(format: "%.2f %%", v * 100) : String(format: "%.5g", v) }

    /// A metric change in its unit: `−0.40 points` for accuracies, `+0.01955 (+12.3 %)` otherwise.
    func difference(_ d: Double) -> String {
        if isFraction { return String(format: "%+.2f points", d * 100).replacingOccurrences(of: "-", with: "−") }
        let relative = abs(report.baseline) > 1e-12 ? String(format: " (%+.1f %%)", d / abs(report.baseline) * 100) : ""
        return (String(format: "%+.4g", d) + relative).replacingOccurrences(of: "-", with: "−")
    }

    /// `2.50× smaller`, or `1.66× larger` for a layer or model that grew.
    private func change(_ reduction: Double) -> String {
        if reduction >= 1 { return String(format: "%.2f× smaller", reduction) }
        return String(format: "%.2f× LARGER", 1 / max(reduction, 1e-12))
    }

    /// Text for a table cell: `|` escaped, line breaks and other control characters as spaces,
    /// so a name cannot break the table (or the document) it sits in.
    func cell(_ text: String) -> String {
        String(line(text).flatMap { $0 == "|" ? ["\\", "|"] : [$0] })
    }

    /// Text on one line: control characters (newlines, tabs, escapes) become spaces.
    func line(_ text: String) -> String {
        String(String.UnicodeScalarView(text.unicodeScalars.map { CharacterSet.controlCharacters.contains($0) ? " " : $0 }))
    }

    /// Text inside a code span: on one line, backticks replaced (a code span cannot escape them).
    func code(_ text: String) -> String {
        line(text).replacingOccurrences(of: "`", with: "ˋ")
    }

    func int(_ v: Int) -> String {
        let s = String(v)
        var out = ""
        for (i, c) in s.reversed().enumerated() {
            if i > 0 && i % 3 == 0 && c != "-" { out.append(",") }
            out.append(c)
        }
        return String(out.reversed())
    }
}
