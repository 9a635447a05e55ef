import Foundation
import ShrinkCompress
import Testing
@testable import ShrinkWorkflow

/// The Markdown report and its plots, as a reviewer reads them.
@Suite struct ReportTests {
    func report(metric: String = "top1", baseline: Double = 0.98, final: Double = 0.977, threshold: Double? = 0.975,
                higherIsBetter: Bool = true, layers: [LayerReport]? = nil, after: LayerCost = LayerCost(params: 100, macs: 1000),
                visited: [TradeoffPoint] = []) -> RunReport {
        let cost = LayerCost(params: 400, macs: 4000)
        let layer = LayerReport(name: "fc1", op: "Gemm", method: "svd", rank: [6, 1], fit: "weights", relativeError: 0.1234,
                                before: cost, after: after, note: nil)
        let search = SearchReport(policy: "budget", objective: "macs", evaluations: visited.count, sensitivity: [:],
                                  visited: visited, notes: ["budget proposed: fc1=6,1 (4.00× macs)"])
        return RunReport(pipeline: "p", variant: nil, model: "model.onnx", modelDigest: String(repeating: "a", count: 64),
                         metric: metric, bound: "absolute drop ≤ 0.005", baseline: baseline, final: final, samples: 100,
                         passed: true, before: cost, after: after, layers: layers ?? [layer], search: search,
                         exportedDigest: nil, threshold: threshold, higherIsBetter: higherIsBetter)
    }

    /// Table rows: lines starting with `|`, split on pipes that are not escaped.
    func cells(_ markdown: String) -> [[String]] {
        markdown.split(separator: "\n").filter { $0.hasPrefix("|") }.map { line in
            var cells: [String] = [], current = "", escaped = false
            for c in line {
                if c == "|" && !escaped { cells.append(current); current = "" } else { current.append(c) }
                escaped = c == "\\"
            }
            return cells
        }
    }

    @Test func layerNamesCannotBreakTheTable() {
        let cost = LayerCost(params: 10, macs: 10)
        let hostile = LayerReport(name: "a|b\nc`d", op: "Gemm", method: "keep", rank: nil, fit: "—", relativeError: nil,
                                  before: cost, after: cost, note: "line one\n| line two")
        let md = MarkdownReport(report: report(layers: [hostile]), stem: "p").render()
        let layerTable = cells(md).filter { $0.count == 9 }
        #expect(layerTable.count == 3, "\(md)")  // header, rule, the one layer
        #expect(md.contains("| a\\|b c`d | Gemm |"), "\(md)")
        #expect(md.contains("- `a|b cˋd`: line one | line two"), "\(md)")
    }

    @Test func ranksAndUnitsAreSpelledOut() {
        let md = MarkdownReport(report: report(), stem: "p").render()
        #expect(md.contains("| fc1 | Gemm | svd | 6,1 | weights | 12.34 % |"), "\(md)")
        #expect(md.contains("weight error"))
        #expect(md.contains("| top1 | 98.00 % | 97.70 % | −0.30 points |"), "\(md)")
        #expect(md.contains("budget proposed: fc1=6,1"))
    }

    /// MSE is an error in the model's own units: its change is not "points".
    @Test func anMSEChangeIsShownInItsUnit() {
        let md = MarkdownReport(report: report(metric: "mse", baseline: 0.01, final: 0.012, threshold: 0.015, higherIsBetter: false),
                                stem: "p").render()
        #expect(!md.contains("points"), "\(md)")
        #expect(md.contains("| mse | 0.01 | 0.012 | +0.002 (+20.0 %) |"), "\(md)")
    }

    /// A proportion's margin is fixed per data set; a mean-type metric's is each candidate's own
    /// spread, and the report says so instead of "had to clear the bound by 0".
    @Test func theMarginIsWordedForItsKind() {
        var r = report()
        r.margin = MarginReport(mode: "auto", search: 0.012, full: 0.006, chosen: 0.006)
        let fixed = MarkdownReport(report: r, stem: "p").render()
        #expect(fixed.contains("had to clear the bound by 1.20 % on the search subset and 0.60 % on the whole search set"), "\(fixed)")
        var l2 = report(metric: "relative_l2", baseline: 0, final: 0.0947, threshold: 0.1, higherIsBetter: false)
        l2.margin = MarginReport(mode: "auto", search: 0, full: 0, chosen: 0.0025)
        let spread = MarkdownReport(report: l2, stem: "p").render()
        #expect(!spread.contains("by 0 on"), "\(spread)")
        #expect(spread.contains("its own standard error times z on the search data; the chosen model's was 0.0025"), "\(spread)")
    }

    @Test func aModelThatGrewIsNotCalledPassed() {
        let md = MarkdownReport(report: report(after: LayerCost(params: 500, macs: 5000)), stem: "p").render()
        #expect(!md.contains("passed"))
        #expect(md.contains("**Result: bound met, but the model GREW**"))
        #expect(md.contains("1.25× LARGER"))
    }

    /// The trade-off plot zooms on the bound: a candidate far below it does not squash the ones
    /// near it into a line; it is drawn hollow on the edge. Tick labels are round numbers.
    @Test func theTradeoffPlotZoomsOnTheBound() throws {
        let points = [0.05, 0.5, 0.97, 0.974, 0.976, 0.979].map {
            TradeoffPoint(set: "search", macs: 1000, params: 100, metric: $0, chosen: false)
        } + [TradeoffPoint(set: "full", macs: 2000, params: 200, metric: 0.977, chosen: true)]
        let svg = try #require(MarkdownReport(report: report(visited: points), stem: "p").plots()["p.tradeoff.svg"])
        let labels = svg.components(separatedBy: "text-anchor=\"end\">").dropFirst().compactMap { $0.split(separator: "<").first }
            .compactMap { Double($0) }
        #expect(!labels.isEmpty)
        #expect(labels.allSatisfy { $0 >= 0.96 && $0 <= 0.99 }, "\(labels)")
        #expect(labels.allSatisfy { String($0).count <= 6 }, "\(labels)")
        #expect(svg.contains("(2 off the scale, hollow)"))
        #expect(svg.contains(">bound</text>"))
    }

    @Test func niceTicksAreRound() {
        let ticks = SVGPlot.niceTicks(0.9652, 0.9861)
        #expect(ticks.step == 0.005)
        #expect(ticks.values.map { SVGPlot.tickLabel($0, step: ticks.step) } == ["0.970", "0.975", "0.980", "0.985"])
        #expect(SVGPlot.logTicks(150_000, 2_500_000).map { SVGPlot.tickLabel($0, step: 0) } == ["200k", "500k", "1M", "2M"])
    }
}
