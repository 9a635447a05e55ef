import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor

/// How activation ranges are taken from calibration data.
public enum CalibrationMethod: Sendable, Codable, Equatable, Hashable, CustomStringConvertible {
    /// The smallest and largest value seen.
    case minMax
    /// The `p`-th and (100 − p)-th percentiles of all values of a tensor over the calibration
    /// set (NumPy's linear interpolation), p in (50, 100]; clips rare outliers.
    case percentile(Double)

    /// `minmax` or `percentile 99.99`.
    public var description: String {
        switch self {
        case .minMax: "minmax"
        case .percentile(let p): "percentile \(p)"
        }
    }
}

/// The range of one activation tensor over the calibration data.
public struct ActivationRange: Sendable, Codable, Equatable, Hashable {
    /// The low end.
    public var lo: Float
    /// The high end.
    public var hi: Float
    /// A range.
    public init(lo: Float, hi: Float) {
        self.lo = lo
        self.hi = hi
    }
}

/// Activation ranges of a device graph's tensors, from running the float model on calibration data.
public struct Calibration: Sendable, Codable, Equatable {
    /// How the ranges were taken.
    public var method: CalibrationMethod
    /// Number of calibration samples.
    public var samples: Int
    /// Ranges by tensor name: the input and every Conv, fully connected and Add output (pools,
    /// clamps and reshapes keep their input's quantisation).
    public var ranges: [String: ActivationRange]

    /// Calibration results.
    public init(method: CalibrationMethod, samples: Int, ranges: [String: ActivationRange]) {
        self.method = method
        self.samples = samples
        self.ranges = ranges
    }

    /// The tensors of `graph` that need a range of their own.
    public static func calibratedTensors(of graph: DeviceGraph) -> [String] {
        var names = [graph.input.name]
        for l in graph.layers {
            switch l.op {
            case .conv, .fullyConnected, .add, .lookup, .mul: names.append(l.output)
            default: break
            }
        }
        return names
    }

    /// Runs `model` (the ONNX graph `device` was lowered from) on `inputs` ([N, …] float32) in
    /// batches and records the range of every tensor that needs one.
    ///
    /// Throws `.invalidInput` for inputs of the wrong shape, a percentile outside (50, 100] or an
    /// empty data set.
    public static func run(model: Graph, device: DeviceGraph, inputs: Tensor, method: CalibrationMethod,
                           batch: Int = 64, threads: Int = 1) throws(DeviceError) -> Calibration {
        if case .percentile(let p) = method, !(p > 50 && p <= 100) {
            throw DeviceError(.invalidInput, "percentile \(p) is outside (50, 100]", hint: "use e.g. 99.99")
        }
        let n = inputs.shape.first ?? 0
        guard n > 0 else { throw DeviceError(.invalidInput, "the calibration data holds no samples") }
        guard Array(inputs.shape.dropFirst()) == device.input.shape else {
            throw DeviceError(.invalidInput,
                              "calibration inputs have shape \(inputs.shape) but the model takes [N, \(device.input.shape.map(String.init).joined(separator: ", "))]")
        }
        let session: Session
        do { session = try Session(graph: model, options: SessionOptions(threads: threads)) } catch {
            throw DeviceError(.unsupportedModel, "\(error)")
        }
        let names = calibratedTensors(of: device)
        let outputs = names.filter { $0 != device.input.name }
        var lo = [String: Float](), hi = [String: Float]()
        var values = [String: [Float]]()
        func record(_ name: String, _ v: ArraySlice<Float>) {
            switch method {
            case .minMax:
                var l = lo[name] ?? .infinity, h = hi[name] ?? -.infinity
                for x in v where !x.isNaN { l = Swift.min(l, x); h = Swift.max(h, x) }
                lo[name] = l
                hi[name] = h
            case .percentile:
                values[name, default: []].append(contentsOf: v.lazy.filter { !$0.isNaN })
            }
        }
        let per = inputs.count / n
        var start = 0
        while start < n {
            let end = Swift.min(n, start + batch)
            let x = Tensor(shape: [end - start] + device.input.shape, scalars: Array(inputs.scalars[(start * per)..<(end * per)]))
            record(device.input.name, x.scalars[...])
            let result: [String: Tensor]
            do { result = try session.run(from: [device.input.name: x], outputs: outputs) } catch {
                throw DeviceError(.invalidInput, "running the float model on the calibration data failed: \(error)")
            }
            for name in outputs { record(name, result[name]!.scalars[...]) }
            start = end
        }
        var ranges = [String: ActivationRange]()
        for name in names {
            switch method {
            case .minMax:
                let l = lo[name] ?? 0, h = hi[name] ?? 0
                ranges[name] = ActivationRange(lo: l.isFinite ? l : 0, hi: h.isFinite ? h : 0)
            case .percentile(let p):
                var v = values[name] ?? []
                v.sort()
                ranges[name] = ActivationRange(lo: percentile(v, 100 - p), hi: percentile(v, p))
            }
        }
        return Calibration(method: method, samples: n, ranges: ranges)
    }

    /// NumPy's `percentile(sorted, p)` with linear interpolation; 0 for no values.
    static func percentile(_ sorted: [Float], _ p: Double) -> Float {
        guard !sorted.isEmpty else { return 0 }
        let pos = p / 100 * Double(sorted.count - 1)
        let i = Int(pos.rounded(.down))
        let j = Swift.min(i + 1, sorted.count - 1)
        let f = pos - Double(i)
        return Float(Double(sorted[i]) + f * (Double(sorted[j]) - Double(sorted[i])))
    }
}
