import Foundation
import ShrinkBuild
import ShrinkCompress
import ShrinkDevice

/// Parameters of a report stage: the names a report shows (never absolute paths).
struct ReportParameters: Codable, Sendable {
    var pipeline: String
    var variant: String?
    var model: String
    var metric: String
    var bound: String
    var stem: String
    /// `absolute` or `relative`, and its value; with the direction they give the threshold.
    var boundKind: BoundKind
    var boundValue: Double
    var higherIsBetter: Bool
    /// The device's budgets (`target.flash`, `target.ram`), in bytes.
    var flashBudget: Int?
    var ramBudget: Int?
}

extension StageFactory {
    /// The report stage: Markdown, JSON and SVG plots from the selection.
    func report(identity: String, select: String, export: String, quantize: String?, int8: Bool,
                parameters: ReportParameters) -> WorkflowStage<ReportStage> {
        var inputs: [String: StageInput] = ["selection": .output(of: select, named: "selection"), "summary": .blob(summary),
                                            "model": .blob(model), "onnx": .output(of: export, named: "onnx")]
        if let quantize {
            inputs["device"] = .output(of: quantize, named: "device")
            if int8 { inputs["qdq"] = .output(of: quantize, named: "qdq") }
        }
        return WorkflowStage(identity: identity, parameters: parameters, inputs: inputs)
    }
}

/// Markdown, JSON and SVG plots from a selection.
enum ReportStage: WorkflowStageKind {
    static var name: String { "report" }
    static var version: Int { StageVersion.report }

    static func run(_ p: ReportParameters, context ctx: StageContext, environment: StageEnvironment) throws -> StageOutputs {
        let selection = try JSONDecoder().decode(Selection.self, from: try ctx.data("selection"))
        let summary = try JSONDecoder().decode(ModelSummary.self, from: try ctx.data("summary"))
        var infos: [String: DecompositionInfo] = [:]
        for r in selection.decompositions {
            infos[r.layer] = try JSONDecoder().decode(DecompositionInfo.self, from: try ctx.store.read(r.info))
        }
        let layers = summary.layers.map { l -> LayerReport in
            let cost = LayerCost(params: l.params, macs: l.macs)
            guard let i = infos[l.name] else {
                return LayerReport(name: l.name, op: l.op, method: "keep", rank: nil, fit: "—", relativeError: nil,
                                   before: cost, after: cost, note: nil)
            }
            let note = (i.warnings + (i.relativeOutputError.map { [String(format: "relative output error %.2f %% on the calibration data", $0 * 100)] } ?? []))
            return LayerReport(name: l.name, op: l.op, method: i.method.rawValue, rank: i.rank, fit: i.fit.rawValue, relativeError: i.relativeWeightError,
                               before: i.before, after: i.after, note: note.isEmpty ? nil : note.joined(separator: "; "))
        }
        var device: DeviceReport?
        if ctx.inputs["device"] != nil {
            let build = try JSONDecoder().decode(DeviceBuild.self, from: try ctx.data("device"))
            device = build.report(selection: selection, flashBudget: p.flashBudget, ramBudget: p.ramBudget)
        }
        let passed = selection.passed && (device?.withinBudget ?? true)
        // An int8 pipeline exports the QDQ model.
        let exported = device?.int8 == true ? try ctx.digest(of: "qdq") : try ctx.digest(of: "onnx")
        var run = RunReport(pipeline: p.pipeline, variant: p.variant, model: p.model, modelDigest: try ctx.digest(of: "model").hex, metric: p.metric,
                            bound: p.bound, baseline: selection.baseline, final: selection.metric, samples: selection.samples,
                            passed: passed, before: selection.before, after: selection.after, layers: layers,
                            search: selection.search, exportedDigest: passed ? exported.hex : nil,
                            threshold: Acceptance(bound: p.boundKind == .relative ? .relative(p.boundValue) : .absolute(p.boundValue),
                                                  direction: p.higherIsBetter ? .higherIsBetter : .lowerIsBetter)
                                .threshold(baseline: selection.baseline),
                            higherIsBetter: p.higherIsBetter, searchBaseline: selection.searchBaseline,
                            searchFinal: selection.searchMetric, searchSamples: selection.searchSamples,
                            heldOut: selection.heldOut)
        run.device = device
        run.fitting = selection.refit.map { FitReport(refitted: $0.layers, searchMetricBefore: $0.searchMetricBefore,
                                                      searchMetricAfter: $0.searchMetricAfter, kept: $0.kept) }
        run.margin = selection.margin.map { MarginReport(mode: $0.mode, search: $0.search, full: $0.full, chosen: $0.chosen) }
        let md = MarkdownReport(report: run, stem: p.stem)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted]
        var out: StageOutputs = ["md": Data(md.render().utf8), "json": try encoder.encode(run)]
        for (name, svg) in md.plots() {
            out[name.replacingOccurrences(of: "\(p.stem).", with: "")] = .data(Data(svg.utf8))
        }
        return out
    }
}
