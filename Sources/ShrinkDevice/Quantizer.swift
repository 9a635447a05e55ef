import Foundation

/// Post-training int8 quantisation in TFLite's scheme: weights symmetric int8 (per output
/// channel for Conv and depthwise Conv, per tensor for fully connected layers), activations
/// per tensor with zero points, biases int32 at scale input·weight, requantisation by a Q31
/// multiplier and shift.
public enum Quantizer {
    /// Quantises `graph` with the activation ranges of `calibration`.
    ///
    /// Throws `.invalidInput` when a tensor has no calibrated range, and `.unsupportedModel` when
    /// a layer's int32 accumulator could overflow (weights too large for the activation scales),
    /// naming the layer.
    public static func quantize(_ graph: DeviceGraph, calibration: Calibration) throws(DeviceError) -> QuantizedModel {
        var q = [String: TensorQuantization]()
        var problems = [String]()
        for name in Calibration.calibratedTensors(of: graph) {
            guard let r = calibration.ranges[name] else {
                throw DeviceError(.invalidInput, "no calibrated range for tensor '\(name)'")
            }
            q[name] = TensorQuantization(range: r)
        }
        var layers = [QuantizedLayer]()
        for l in graph.layers {
            let inQ = q[l.inputs[0]]!
            let op: QuantizedOp
            switch l.op {
            case .conv(let g, let w, let b, let act):
                let outQ = q[l.output]!
                let per = g.weightsPerOutput
                var qw = [Int8](repeating: 0, count: w.count)
                var scales = [Float](), requant = [Requantization](), qb = [Int32]()
                for m in 0..<g.outC {
                    let (s, values) = symmetric(w[(m * per)..<((m + 1) * per)])
                    scales.append(s)
                    qw.replaceSubrange((m * per)..<((m + 1) * per), with: values)
                    let r = Requantization(Double(inQ.scale) * Double(s) / Double(outQ.scale))
                    requant.append(r)
                    let bias = b.map { quantizeBias($0[m], inputScale: inQ.scale, weightScale: s) } ?? 0
                    qb.append(bias)
                    if let p = overflow(l.name, channel: m, weights: values, bias: bias, requant: r) { problems.append(p) }
                }
                op = .conv(g, weights: qw, weightScales: scales, bias: b == nil ? nil : qb, requant: requant,
                           clamp: outQ.range(of: act))
            case .fullyConnected(let i, let o, let w, let b, let act):
                let outQ = q[l.output]!
                let (s, qw) = symmetric(w[...])
                let r = Requantization(Double(inQ.scale) * Double(s) / Double(outQ.scale))
                let qb = b.map { $0.map { quantizeBias($0, inputScale: inQ.scale, weightScale: s) } }
                for m in 0..<o {
                    if let p = overflow(l.name, channel: m, weights: qw[(m * i)..<((m + 1) * i)], bias: qb?[m] ?? 0, requant: r) {
                        problems.append(p)
                        break
                    }
                }
                op = .fullyConnected(inputs: i, outputs: o, weights: qw, weightScale: s, bias: qb, requant: r,
                                     clamp: outQ.range(of: act))
            case .maxPool(let g):
                q[l.output] = inQ
                op = .maxPool(g, clamp: .full)
            case .averagePool(let g, let cip):
                q[l.output] = inQ
                op = .averagePool(g, countIncludePad: cip, clamp: .full)
            case .clamp(let act):
                q[l.output] = inQ
                op = .clamp(inQ.range(of: act))
            case .reshape:
                q[l.output] = inQ
                op = .reshape
            case .lookup(let f):
                let outQ = q[l.output]!
                let table = (-128...127).map { v in outQ.quantize(f(inQ.dequantize(Int8(v)))) }
                op = .lookup(f, table: table)
            case .mul(let act):
                let in2 = q[l.inputs[1]]!, outQ = q[l.output]!
                let r = Requantization(Double(inQ.scale) * Double(in2.scale) / Double(outQ.scale))
                // |(x1 − zp1)(x2 − zp2)| ≤ 255², shifted left by the requantisation.
                if (Int64(255 * 255) << Int64(max(0, r.shift))) > Int64(Int32.max) {
                    problems.append("layer \(l.name) (Mul): its output scale \(outQ.scale) is too small for its input scales (\(inQ.scale), \(in2.scale)); calibrate on data that exercises it")
                }
                let perChannel = graph.tensors[l.inputs[1]]!.count != graph.tensors[l.inputs[0]]!.count
                op = .mul(requant: r, clamp: outQ.range(of: act), perChannel: perChannel)
            case .add(let act):
                let in2 = q[l.inputs[1]]!, outQ = q[l.output]!
                let leftShift: Int32 = 20
                let twiceMax = 2 * max(Double(inQ.scale), Double(in2.scale))
                let r1 = Requantization(Double(inQ.scale) / twiceMax)
                let r2 = Requantization(Double(in2.scale) / twiceMax)
                let ro = Requantization(twiceMax / (Double(1 << leftShift) * Double(outQ.scale)))
                // The sum of the rescaled inputs is below 255·2^20 in magnitude; the output
                // multiplier's left shift must keep it inside int32.
                if ro.shift > 2 {
                    problems.append("layer \(l.name) (Add): its output scale \(outQ.scale) is too small for its input scales (\(inQ.scale), \(in2.scale)); calibrate on data that exercises it")
                }
                op = .add(AddQuantization(input1: r1, input2: r2, leftShift: leftShift, output: ro, clamp: outQ.range(of: act)))
            }
            layers.append(QuantizedLayer(name: l.name, op: op, inputs: l.inputs, output: l.output, nodes: l.nodes))
        }
        if !problems.isEmpty {
            throw DeviceError(.unsupportedModel, problems)
        }
        var notes = graph.notes
        if case .percentile(let p) = calibration.method {
            notes.append("activation ranges are the \(100 - p)–\(p) percentiles over \(calibration.samples) calibration samples")
        }
        return QuantizedModel(input: graph.input, output: graph.output, tensors: graph.tensors, quantization: q,
                              layers: layers, notes: notes, calibration: calibration.method)
    }

    /// Symmetric int8 quantisation of `w` in [−127, 127]: scale = max|w| / 127 (1 when all are 0).
    static func symmetric(_ w: ArraySlice<Float>) -> (Float, [Int8]) {
        let m = w.reduce(Float(0)) { max($0, abs($1)) }
        let s: Float = m > 0 ? m / 127 : 1
        return (s, w.map { Int8(min(max(($0 / s).rounded(.toNearestOrAwayFromZero), -127), 127)) })
    }

    /// An int32 bias at scale input·weight (the product taken in float32, as TFLite does).
    static func quantizeBias(_ b: Float, inputScale: Float, weightScale: Float) -> Int32 {
        let scale = inputScale * weightScale
        let v = (Double(b) / Double(scale)).rounded(.toNearestOrAwayFromZero)
        return Int32(min(max(v, Double(Int32.min + 1)), Double(Int32.max)))
    }

    /// A problem when `bias + Σ w·(x − zp)` (|x − zp| ≤ 255), shifted left by the requantisation,
    /// could leave int32 — the arithmetic CMSIS-NN assumes never overflows.
    static func overflow<C: Collection>(_ layer: String, channel: Int, weights: C, bias: Int32,
                                        requant: Requantization) -> String? where C.Element == Int8 {
        let sum = weights.reduce(Int64(0)) { $0 + Int64(abs(Int32($1))) }
        let bound = (sum * 255 + Int64(abs(bias))) << Int64(max(0, requant.shift))
        guard bound > Int64(Int32.max) else { return nil }
        return "layer \(layer), output channel \(channel): the int32 accumulator could overflow (bound \(bound)); the layer's weights are too large for int8 with these activation ranges"
    }
}
