import Foundation
import ShrinkBuild
import ShrinkCompress
import ShrinkGraph
import ShrinkPipeline
import ShrinkRuntime
import ShrinkTensor

/// One decomposition the refit step receives: the layer and whether to refit it in sequence.
struct RefitLayer: Sendable, Hashable, Codable {
    var layer: String
    /// `sequential`: refitted; any other fit: applied as chosen (it still shapes later layers' inputs).
    var fit: FitMode
}

/// Parameters of a refit stage: the chosen decompositions (their factors are inputs) and the
/// calibration data the sequential fit reads.
struct RefitParameters: Codable, Sendable {
    var layers: [RefitLayer]
    var data: DataRef
}

/// Sequential refitting of the ranks a search chose: in model order, every layer marked
/// `fit: sequential` is fitted again at its chosen method and rank to the original model's
/// outputs, given the inputs the model compressed up to it computes on the calibration data
/// (`AsymmetricStatistics`), so each layer corrects the error the layers before it made instead of
/// adding to it. A sub-stage of the select stage: cached, so a rerun or a resumed search refits
/// nothing it has refitted before. Outputs `factors.L` and `info.L` for each refitted layer.
enum RefitStage: WorkflowStageKind {
    static var name: String { "refit" }
    static var version: Int { StageVersion.refit }

    static func run(_ p: RefitParameters, context ctx: StageContext, environment: StageEnvironment) throws -> StageOutputs {
        let original = try ArtifactMemo.shared.graph(try ctx.digest(of: "model"), store: ctx.store)
        let data = try ArtifactMemo.shared.dataset(p.data, store: ctx.store)
        let table = try GraphLayers.table(of: original)
        let refs = GraphLayers.references(in: original, table: table)
        let order = Dictionary(uniqueKeysWithValues: table.layers.enumerated().map { ($0.element.name, $0.offset) })
        let layers = p.layers.sorted { (order[$0.layer] ?? .max, $0.layer) < (order[$1.layer] ?? .max, $1.layer) }
        // The decompositions as they will be applied, earlier layers refitted first.
        var current: [String: LayerDecomposition] = [:]
        var records: [String: DecompositionInfo] = [:]
        for l in layers {
            let record = try JSONDecoder().decode(DecompositionInfo.self, from: try ctx.data("info.\(l.layer)"))
            records[l.layer] = record
            let stored = StoredDecomposition(record: record, factors: try NPZ.decode(try ctx.data("factors.\(l.layer)"),
                                                                                     name: "factors of \(l.layer)"))
            let descriptor = try GraphLayers.descriptor(try GraphLayers.reference(named: l.layer, in: refs), in: original)
            do {
                if let d = try stored.restore(for: descriptor) { current[l.layer] = d }
            } catch {
                throw PipelineError.internalError("cached decomposition of \(l.layer): \(error.message)")
            }
        }
        var out = StageOutputs()
        try ctx.withIdleCores { cores in
            try p.data.attributing {
                for (i, l) in layers.enumerated() where l.fit == .sequential {
                    guard let chosen = current[l.layer], let record = records[l.layer] else { continue }
                    var partial = original
                    let upstream = layers[..<i].compactMap { current[$0.layer] }
                    try GraphRewriter.apply(upstream, to: &partial)
                    let stats = try Calibration.sequentialStatistics(original: original, partial: partial, layer: l.layer,
                                                                    data: data, threads: cores)
                    let descriptor = try GraphLayers.descriptor(try GraphLayers.reference(named: l.layer, in: refs), in: original)
                    let d = try Decomposer.decompose(descriptor, method: record.method, rank: chosen.rank, options: .weights,
                                                     sequential: stats)
                    current[l.layer] = d
                    let stored = StoredDecomposition(d, fit: .sequential, warnings: record.warnings.filter { !d.warnings.contains($0) })
                    out["factors.\(l.layer)"] = .data(try NPZ.encode(stored.factors))
                    out["info.\(l.layer)"] = .data(try LayerWork.jsonEncoder.encode(stored.record))
                }
            }
        }
        return out
    }
}

extension StageFactory {
    /// The refit sub-stage for `refs` (the chosen decompositions, fixed ones included).
    func refit(_ refs: [DecompositionRef], fits: [String: FitMode], data: DataRef) -> WorkflowStage<RefitStage> {
        var inputs = data.inputs
        inputs["model"] = .blob(model)
        let sorted = refs.sorted { $0.layer < $1.layer }
        for r in sorted {
            inputs["factors.\(r.layer)"] = .blob(r.factors)
            inputs["info.\(r.layer)"] = .blob(r.info)
        }
        let layers = sorted.map { RefitLayer(layer: $0.layer, fit: fits[$0.layer] ?? .weights) }
        let label = sorted.map { "\($0.layer):\($0.info.hex)" }.joined(separator: ",")
        return WorkflowStage(identity: "refit:\(Digest.of(label + data.cacheKey).short)", parameters: RefitParameters(layers: layers, data: data),
                             inputs: inputs)
    }
}

/// What the refit step did, for the report: which layers, and the search set's metric before and after.
struct RefitSummary: Sendable, Codable, Hashable {
    /// The layers refitted in sequence.
    var layers: [String]
    /// The chosen ranks' metric on the whole search set as the search fitted them, and refitted.
    var searchMetricBefore: Double, searchMetricAfter: Double
    /// Whether the refitted model was kept (it is, unless it fails the bound on the search set and
    /// scores below the search's own fit there).
    var kept: Bool
}

/// The margin for sampling error the search applied, for the report.
struct MarginSummary: Sendable, Codable, Hashable {
    /// `auto` or `fixed`.
    var mode: String
    /// The constant part on the search subset and on the whole search set, in metric units.
    var search: Double, full: Double
    /// The margin the chosen configuration cleared on the whole search set (its own part included).
    var chosen: Double
}

/// A metric value as search notes write it (four decimals).
func metricText(_ x: Double) -> String { String((x * 10000).rounded() / 10000) }

/// The select stage's refit step: runs the refit sub-stage on the chosen decompositions and
/// decides whether the refitted model replaces the search's own fit.
enum SequentialRefit {
    /// What the step decided.
    struct Outcome {
        /// The decompositions to export and certify.
        var decisions: [DecompositionRef]
        /// Their score on the whole search set.
        var searched: Scoring.Score
        /// What was refitted (nil: no layer is marked `sequential`).
        var summary: RefitSummary?
    }

    /// Refits the `sequential` layers of `decisions` on the calibration data and scores the result
    /// on the whole search set. The refitted model is kept unless it fails the bound there while
    /// also scoring below the search's own fit, so the step never trades a passing choice for a
    /// failing one and never looks at the verify set.
    static func apply(_ decisions: [DecompositionRef], parameters p: SelectParameters, searched: Scoring.Score, label: String,
                      factory: StageFactory, evaluator: PipelineEvaluator, session: SearchSession,
                      context ctx: StageContext) throws -> Outcome {
        var fits = p.fixedFits
        for s in p.searchable { fits[s.layer] = s.fit }
        let sequential = decisions.map(\.layer).filter { fits[$0] == .sequential }.sorted()
        guard let data = p.calibration, !sequential.isEmpty else {
            return Outcome(decisions: decisions, searched: searched, summary: nil)
        }
        let result = try ctx.run(substages: [factory.refit(decisions, fits: fits, data: data)])[0]
        let refitted = decisions.map { d in
            guard let f = result.outputs["factors.\(d.layer)"], let i = result.outputs["info.\(d.layer)"] else { return d }
            return DecompositionRef(layer: d.layer, factors: f, info: i)
        }
        let after = try evaluator.score(refs: refitted, on: .full, label: label + " (refit)")
        // The bound as written, without the search's margin: the margin corrects for picking the
        // luckiest of many candidates, and the refit is one model scored once.
        let bound = session.bound
        let base = try session.baseline(.full)
        let passes = bound.accepts(baseline: base, value: after.value)
        let noWorse = bound.drop(baseline: base, value: after.value) <= bound.drop(baseline: base, value: searched.value) + 1e-12
        let kept = passes || noWorse
        let summary = RefitSummary(layers: sequential, searchMetricBefore: searched.value, searchMetricAfter: after.value, kept: kept)
        return kept ? Outcome(decisions: refitted, searched: after, summary: summary)
                    : Outcome(decisions: decisions, searched: searched, summary: summary)
    }

    /// The margin the search applied, for the report; nil when there was none.
    static func marginSummary(_ margin: SamplingMargin, session: SearchSession, searched: Scoring.Score) throws -> MarginSummary? {
        if case .fixed(let m) = margin.mode, m == 0 { return nil }
        let search = try session.constantMargin(on: .search), full = try session.constantMargin(on: .full)
        let mode: String
        if case .fixed = margin.mode { mode = "fixed" } else { mode = "auto" }
        return MarginSummary(mode: mode, search: search, full: full,
                             chosen: full + margin.perCandidate(samples: searched.samples, deviation: searched.deviation))
    }
}
