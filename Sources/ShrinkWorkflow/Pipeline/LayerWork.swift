import Foundation
import ShrinkBuild
import ShrinkCompress
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor

/// What the load stage publishes about one layer (plain data; no tensors).
struct LayerInfo: Sendable, Hashable, Codable {
    var name: String
    var node: String
    var op: String
    var kernel: [Int]?
    var weightShape: [Int]
    var params: Int
    var macs: Int
    /// The graph value the layer reads (its input activations).
    var input: String
    /// Conv groups (nil: 1).
    var group: Int?
}

/// The load stage's output: the model's layer table and totals.
struct ModelSummary: Sendable, Hashable, Codable {
    var layers: [LayerInfo]
    var params: Int
    var macs: Int
    /// Set when the model's input had symbolic dimensions besides the batch, fixed from the data.
    var pinnedInput: String?
    /// Why Shrink's engine cannot run the model (an unsupported operator), if it cannot. Such a
    /// model can still be decomposed and searched with an external `metric: { command: … }`.
    var engineError: String?
}

/// A decomposition's record, stored as the `info` blob (the factors are the `factors` blob).
typealias DecompositionInfo = StoredDecomposition.Record

/// A decomposition as it travels through the store: weights blob + info blob.
struct DecompositionRef: Sendable, Hashable, Codable {
    var layer: String
    var factors: Digest
    var info: Digest
}

/// The pure work behind the stages, separated from stage plumbing so it can be tested directly.
enum LayerWork {
    static let jsonEncoder: JSONEncoder = {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return e
    }()

    /// `graph` with the symbolic dimensions of its data inputs fixed to the data's (all but each
    /// input's sample axis: axis 0 of the first input, fed from `x`, and the sample axis of each
    /// further input's array), so every layer has shapes to be costed; the note says what was
    /// fixed. Nil when nothing is symbolic, or an array contradicts a fixed dimension (the run's
    /// shape check then names it).
    static func pinningSymbolicInputs(_ graph: Graph, data: Dataset) -> (Graph, String)? {
        var g = graph
        var notes: [String] = []
        for (index, input) in graph.dataInputs.enumerated() {
            guard let dims = input.shape, let i = g.inputs.firstIndex(where: { $0.name == input.name }) else { continue }
            let shape: [Int], sampleAxis: Int?
            if index == 0 {
                (shape, sampleAxis) = (data.inputs.shape, 0)
            } else if let side = data.sideInputs[input.name] {
                (shape, sampleAxis) = (side.values.shape, side.sampleAxis)
            } else { continue }
            guard shape.count == dims.count else { continue }
            var pinned = dims
            for (k, d) in dims.enumerated() where k != sampleAxis {
                if let f = d.fixed { if f != shape[k] { return nil } } else { pinned[k] = .value(shape[k]) }
            }
            guard pinned != dims else { continue }
            g.inputs[i].shape = pinned
            let from = "[" + dims.map(\.description).joined(separator: ", ") + "]"
            let to = "[" + pinned.map(\.description).joined(separator: ", ") + "]"
            notes.append("model input '\(input.name)' is declared \(from); Shrink measures and compresses it at \(to), the shape of the evaluation data (the exported model keeps the declared shape)")
        }
        return notes.isEmpty ? nil : (g, notes.joined(separator: "; "))
    }

    /// One sample's worth of each data input, for shape inference and constant conditions: the
    /// first input from the data's inputs, each further one from its array (its sample axis
    /// cut to one entry; small integer arrays, such as a sample rate, with their values).
    static func sampleArrays(_ graph: Graph, data: Dataset) -> [String: SampleArray] {
        var arrays: [String: SampleArray] = [:]
        for (index, input) in graph.dataInputs.enumerated() {
            if index == 0 {
                arrays[input.name] = SampleArray(shape: data.inputs.shape)
            } else if let side = data.sideInputs[input.name] {
                let one = side.selecting(0..<min(1, data.count))
                let integral = one.count <= 64 && one.scalars.allSatisfy { $0 == $0.rounded() }
                arrays[input.name] = SampleArray(shape: one.shape, integers: integral ? one.scalars.map { Int64($0) } : nil)
            }
        }
        return arrays
    }

    /// The load stage: the layer table of a model.
    static func summarize(_ graph: Graph) throws -> ModelSummary {
        let table = try GraphLayers.table(of: graph)
        let refs = GraphLayers.references(in: graph, table: table)
        let infos = table.layers.map { l in
            LayerInfo(name: l.name, node: l.nodeName, op: l.op, kernel: l.kernel, weightShape: l.weightShape,
                      params: l.params, macs: l.macs, input: refs.first { $0.name == l.name }?.input ?? "",
                      group: l.group == 1 ? nil : l.group)
        }
        return ModelSummary(layers: infos, params: table.modelParams, macs: table.totalMACs)
    }

    /// The calibrate stage: Σxxᵀ of each named layer's inputs over the calibration data.
    static func calibrate(_ graph: Graph, layers: [String], data: Dataset, threads: Int) throws -> [String: NumPyArray] {
        let stats = try Calibration.statistics(graph, layers: layers, data: data, threads: threads)
        var out: [String: NumPyArray] = [:]
        for (name, s) in stats {
            out["\(name).gram"] = NumPyArray(s.gram)
            out["\(name).count"] = NumPyArray(integers: [Int64(s.count)], shape: [], dtype: .int64)
        }
        return out
    }

    /// Reads one layer's statistics from a calibrate blob.
    static func statistics(_ arrays: [String: NumPyArray], layer: String) throws -> ActivationStatistics? {
        guard let g = arrays["\(layer).gram"], let c = arrays["\(layer).count"]?.integersIfIntegral()?.first else { return nil }
        return try ActivationStatistics(gram: g.tensor(), count: Int(c))
    }

    /// The decompose stage: factorise one layer; returns the stage weights (npz arrays) and info.
    static func decompose(_ graph: Graph, layer name: String, method: ShrinkCompress.MethodName,
                          rank: ShrinkCompress.RankSpec, fitToActivations: Bool, statistics: ActivationStatistics?,
                          objective: CostObjective) throws -> ([String: NumPyArray], DecompositionInfo) {
        let refs = try GraphLayers.references(in: graph)
        let layer = try GraphLayers.descriptor(try GraphLayers.reference(named: name, in: refs), in: graph)
        let resolution = try RankArithmetic.resolve(rank, method: method.method, layer: layer, objective: objective)
        var options = FitOptions.weights
        if fitToActivations, let statistics { options.target = .activations(statistics) }
        let d = try Decomposer.decompose(layer, method: method, rank: resolution.rank, options: options, measure: statistics)
        let stored = StoredDecomposition(d, fit: fitToActivations && statistics != nil ? .activations : .weights,
                                         warnings: resolution.warnings, notes: resolution.notes)
        return (stored.factors, stored.record)
    }

    /// Rebuilds decompositions from store blobs and applies them to `graph`.
    static func apply(_ refs: [DecompositionRef], to graph: Graph, store: Store) throws -> Graph {
        let layerRefs = try GraphLayers.references(in: graph)
        var decompositions: [LayerDecomposition] = []
        for r in refs.sorted(by: { $0.layer < $1.layer }) {
            let record = try JSONDecoder().decode(DecompositionInfo.self, from: try store.read(r.info))
            if record.method == .keep { continue }
            let stored = StoredDecomposition(record: record, factors: try NPZ.decode(try store.read(r.factors), name: "factors of \(r.layer)"))
            let layer = try GraphLayers.descriptor(try GraphLayers.reference(named: r.layer, in: layerRefs), in: graph)
            do {
                if let d = try stored.restore(for: layer) { decompositions.append(d) }
            } catch {
                throw PipelineError.internalError("cached decomposition of \(r.layer): \(error.message)")
            }
        }
        var out = graph
        try GraphRewriter.apply(decompositions, to: &out)
        return out
    }

    /// The data input a pipeline feeds from its data's inputs (`x`): the model's first; each
    /// further one is fed from the array named like it in the same file (`Dataset.sideInputs`).
    static func inputName(of session: Session) throws -> String {
        guard let name = session.inputs.first?.name else {
            throw PipelineError.invalidInput("the model has no data input to feed")
        }
        return name
    }
}
