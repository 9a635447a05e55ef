import Dispatch
import Foundation
import ShrinkCompress
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor

/// A model measured on a data set with Shrink's engine, batch by batch: the loop `shrink eval`,
/// `shrink decompose --eval` and the pipeline's reference measurements share.
public enum Evaluation {
    /// The metric so far and the time the engine took.
    public struct Measurement: Sendable {
        /// Value, samples and non-finite outputs.
        public var accumulator: MetricAccumulator
        /// Seconds spent running the model (not loading data).
        public var seconds: Double
    }

    /// Runs `session` on `data` in batches of `batch` and scores its output `output` with
    /// `metric`. Labels are checked against the model's class count once it is known; a data
    /// error names `data.source`.
    public static func measure(_ session: Session, input: String, output: String, data: Dataset, metric: Metric,
                               batch: Int) throws -> Measurement {
        var acc = MetricAccumulator(metric)
        var seconds = 0.0
        do {
            for b in data.batches(size: max(batch, 1)) {
                let t0 = DispatchTime.now().uptimeNanoseconds
                let out = try session.run(from: b.feeds(primary: input, session: session), outputs: [output])
                seconds += Double(DispatchTime.now().uptimeNanoseconds - t0) / 1e9
                guard let y = out[output] else { throw RuntimeError.missingInput(name: output) }
                if metric != .mse, b.range.lowerBound == 0, y.rank == 2 { try data.checkLabels(classes: y.shape[1]) }
                try acc.add(outputs: y, targets: b.targets)
            }
        } catch let e as DatasetError {
            var e = e
            e.file = e.file ?? data.source
            throw e
        }
        return Measurement(accumulator: acc, seconds: seconds)
    }
}

/// Activation statistics of layers' inputs (the Gram matrices data-aware fitting minimises the
/// output error with), from running the original model on calibration data: what the pipeline's
/// calibrate stage and `shrink decompose --fit activations` share.
public enum Calibration {
    /// Statistics for each of `layers` (by name) over every sample of `data`, on `threads` cores.
    /// `inputShapes` fixes symbolic input dimensions for locating layers.
    public static func statistics(_ graph: Graph, layers: [String], data: Dataset, threads: Int,
                                  inputShapes: [String: [Int]] = [:]) throws -> [String: ActivationStatistics] {
        let refs = try GraphLayers.references(in: graph, inputShapes: inputShapes)
        var stats: [String: ActivationStatistics] = [:]
        var targets: [(LayerReference, LayerDescriptor)] = []
        for name in layers {
            let ref = try GraphLayers.reference(named: name, in: refs)
            let d = try GraphLayers.descriptor(ref, in: graph)
            targets.append((ref, d))
            stats[name] = ActivationStatistics(dimension: d.weight.count / max(d.outputs, 1))
        }
        let session = try Session(graph: graph, options: SessionOptions(threads: threads))
        let feed = try LayerWork.inputName(of: session)
        try data.check(fits: session, input: feed)
        // Distinct names: two layers may read the same activation.
        let wanted = Array(Set(targets.map(\.0.input))).sorted()
        for batch in data.batches(size: 128) {
            let values = try session.run(from: batch.feeds(primary: feed, session: session), outputs: wanted)
            for (ref, d) in targets {
                guard let input = values[ref.input] else { throw RuntimeError.missingInput(name: ref.input) }
                try stats[ref.name]!.add(layerInput: GraphLayers.activationRows(input, of: ref), of: d)
            }
        }
        return stats
    }
}

extension Calibration {
    /// A layer's inputs from the original graph and from `partial` (the original with the
    /// layers before it compressed) on the same samples, for sequential fitting
    /// (`ModelDecomposer.decomposeSequentially`). The layer reads the same value name in both.
    public static func sequentialStatistics(original: Graph, partial: Graph, layer name: String, data: Dataset, threads: Int,
                                            inputShapes: [String: [Int]] = [:]) throws -> AsymmetricStatistics {
        let ref = try GraphLayers.reference(named: name, in: try GraphLayers.references(in: original, inputShapes: inputShapes))
        let d = try GraphLayers.descriptor(ref, in: original)
        var stats = AsymmetricStatistics(dimension: d.weight.count / max(d.outputs, 1))
        let a = try Session(graph: original, options: SessionOptions(threads: threads))
        let b = try Session(graph: partial, options: SessionOptions(threads: threads))
        let feed = try LayerWork.inputName(of: a)
        try data.check(fits: a, input: feed)
        for batch in data.batches(size: 128) {
            guard let x = try a.run(from: batch.feeds(primary: feed, session: a), outputs: [ref.input])[ref.input],
                  let h = try b.run(from: batch.feeds(primary: feed, session: b), outputs: [ref.input])[ref.input] else {
                throw RuntimeError.missingInput(name: ref.input)
            }
            try stats.add(originalInput: GraphLayers.activationRows(x, of: ref), compressedInput: GraphLayers.activationRows(h, of: ref), of: d)
        }
        return stats
    }
}
