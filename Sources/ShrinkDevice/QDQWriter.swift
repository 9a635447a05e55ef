import ShrinkGraph
import ShrinkTensor

/// Writes a `QuantizedModel` as a QDQ ONNX model (opset 13) that onnxruntime runs: every
/// activation passes through `QuantizeLinear` → `DequantizeLinear` with its scale and zero point,
/// weights are int8 initializers behind `DequantizeLinear` (per output channel on axis 0 for
/// Conv, per tensor for Gemm), biases int32 at scale input·weight. BatchNorm is already folded
/// and activations sit between the layer and its `QuantizeLinear`, as in the int8 model.
///
/// Names: the int8 value of device tensor `T` is `T_q` (what `QDQWriter.quantizedName` returns),
/// its dequantised value `T_dq`; the graph input keeps the model's input name and the graph
/// output is the dequantised output under the device output's name, so the model takes and
/// returns the values the C library's `shrink_model_run` does.
public enum QDQWriter {
    /// The name of device tensor `tensor`'s int8 value in the QDQ model.
    public static func quantizedName(_ tensor: String) -> String { "\(tensor)_q" }

    /// The QDQ graph of `model`.
    public static func graph(_ model: QuantizedModel) -> Graph {
        var w = Writer(model: model)
        return w.run()
    }
}

struct Writer {
    let model: QuantizedModel
    var g = Graph(name: "shrink_qdq", opsets: [OpsetImport(domain: "", version: 13)])

    init(model: QuantizedModel) { self.model = model }

    func dq(_ t: String) -> String { t == model.output.name ? t : "\(t)_dq" }

    mutating func constant(_ name: String, _ v: TensorValue) -> String {
        g.setInitializer(name, v)
        return name
    }

    mutating func scalar(_ name: String, _ f: Float) -> String {
        constant(name, .float(Tensor(shape: [], scalars: [f])))
    }

    mutating func node(_ op: String, _ name: String, _ inputs: [String], _ outputs: [String], _ attributes: [Attribute] = []) {
        g.nodes.append(Node(name: name, opType: op, inputs: inputs, outputs: outputs, attributes: attributes))
    }

    /// `QuantizeLinear` → `DequantizeLinear` of float value `value` into tensor `t`'s pair.
    mutating func qdq(_ value: String, _ t: String) {
        let q = model.quantization[t]!
        let s = scalar("\(t)_scale", q.scale)
        let z = constant("\(t)_zero_point", .int8(shape: [], values: [Int8(q.zeroPoint)]))
        node("QuantizeLinear", "\(t)_QuantizeLinear", [value, s, z], [QDQWriter.quantizedName(t)])
        node("DequantizeLinear", "\(t)_DequantizeLinear", [QDQWriter.quantizedName(t), s, z], [dq(t)])
    }

    /// Appends the activation node(s) after `value`; returns the activated value.
    mutating func activate(_ value: String, _ act: Activation, _ base: String) -> String {
        switch act {
        case .none:
            return value
        case .relu:
            node("Relu", "\(base)_Relu", [value], ["\(base)_relu"])
            return "\(base)_relu"
        case .clip(let lo, let hi):
            let a = scalar("\(base)_clip_min", lo), b = scalar("\(base)_clip_max", hi)
            node("Clip", "\(base)_Clip", [value, a, b], ["\(base)_clip"])
            return "\(base)_clip"
        }
    }

    /// The float activation of a layer from its int8 output clamp (ReLU or Clip on the output's scale).
    func activation(_ c: ClampRange, _ t: String) -> Activation {
        let q = model.quantization[t]!
        let lo = c.min > -128 ? Float(c.min - q.zeroPoint) * q.scale : -Float.infinity
        let hi = c.max < 127 ? Float(c.max - q.zeroPoint) * q.scale : Float.infinity
        if lo == -.infinity && hi == .infinity { return .none }
        if lo == 0 && hi == .infinity { return .relu }
        return .clip(lo: lo.isFinite ? lo : -Float.greatestFiniteMagnitude, hi: hi.isFinite ? hi : Float.greatestFiniteMagnitude)
    }

    func spatial(_ t: String) -> Int { model.tensors[t]!.shape.count - 1 }

    mutating func run() -> Graph {
        let input = model.input
        g.inputs = [ValueInfo(name: input.name, elementType: .float, shape: [.symbol("batch")] + input.shape.map { .value($0) })]
        qdq(input.name, input.name)
        for l in model.layers {
            let base = l.name.isEmpty ? l.output : l.name
            let inQ = model.quantization[l.inputs[0]]!
            let x = dq(l.inputs[0])
            var y: String
            switch l.op {
            case .conv(let geo, let wq, let ws, let bias, _, let clamp):
                let oneD = spatial(l.inputs[0]) == 1
                let shape = oneD ? [geo.outC, geo.inPerGroup, geo.kernelW] : [geo.outC, geo.inPerGroup, geo.kernelH, geo.kernelW]
                let w = constant("\(base).weight_q", .int8(shape: shape, values: wq))
                let wsName = constant("\(base).weight_scale", .float(Tensor(shape: [geo.outC], scalars: ws)))
                let wz = constant("\(base).weight_zero_point", .int8(shape: [geo.outC], values: [Int8](repeating: 0, count: geo.outC)))
                node("DequantizeLinear", "\(base).weight_DequantizeLinear", [w, wsName, wz], ["\(base).weight"],
                     [Attribute("axis", .int(0))])
                var inputs = [x, "\(base).weight"]
                if let bias {
                    let b = constant("\(base).bias_q", .int32(shape: [geo.outC], values: bias))
                    let bs = constant("\(base).bias_scale", .float(Tensor(shape: [geo.outC], scalars: ws.map { inQ.scale * $0 })))
                    let bz = constant("\(base).bias_zero_point", .int32(shape: [geo.outC], values: [Int32](repeating: 0, count: geo.outC)))
                    node("DequantizeLinear", "\(base).bias_DequantizeLinear", [b, bs, bz], ["\(base).bias"], [Attribute("axis", .int(0))])
                    inputs.append("\(base).bias")
                }
                let attrs: [Attribute] = oneD ? [
                    Attribute("dilations", .ints([geo.dilationW])), Attribute("group", .int(geo.group)),
                    Attribute("kernel_shape", .ints([geo.kernelW])), Attribute("pads", .ints([geo.padLeft, geo.padRight])),
                    Attribute("strides", .ints([geo.strideW])),
                ] : [
                    Attribute("dilations", .ints([geo.dilationH, geo.dilationW])), Attribute("group", .int(geo.group)),
                    Attribute("kernel_shape", .ints([geo.kernelH, geo.kernelW])),
                    Attribute("pads", .ints([geo.padTop, geo.padLeft, geo.padBottom, geo.padRight])),
                    Attribute("strides", .ints([geo.strideH, geo.strideW])),
                ]
                node("Conv", "\(base)_Conv", inputs, ["\(base)_conv"], attrs)
                y = activate("\(base)_conv", activation(clamp, l.output), base)
            case .fullyConnected(let i, let o, let wq, let ws, let bias, _, let clamp):
                let w = constant("\(base).weight_q", .int8(shape: [o, i], values: wq))
                let s = scalar("\(base).weight_scale", ws)
                let z = constant("\(base).weight_zero_point", .int8(shape: [], values: [0]))
                node("DequantizeLinear", "\(base).weight_DequantizeLinear", [w, s, z], ["\(base).weight"])
                var inputs = [x, "\(base).weight"]
                if let bias {
                    let b = constant("\(base).bias_q", .int32(shape: [o], values: bias))
                    let bs = scalar("\(base).bias_scale", inQ.scale * ws)
                    let bz = constant("\(base).bias_zero_point", .int32(shape: [], values: [0]))
                    node("DequantizeLinear", "\(base).bias_DequantizeLinear", [b, bs, bz], ["\(base).bias"])
                    inputs.append("\(base).bias")
                }
                node("Gemm", "\(base)_Gemm", inputs, ["\(base)_gemm"], [Attribute("transB", .int(1))])
                y = activate("\(base)_gemm", activation(clamp, l.output), base)
            case .maxPool(let p, _), .averagePool(let p, _, _):
                let oneD = spatial(l.inputs[0]) == 1
                let bottom = max(0, (p.outH - 1) * p.strideH + p.kernelH - p.inH - p.padTop)
                let right = max(0, (p.outW - 1) * p.strideW + p.kernelW - p.inW - p.padLeft)
                var attrs: [Attribute] = oneD ? [
                    Attribute("kernel_shape", .ints([p.kernelW])), Attribute("pads", .ints([p.padLeft, right])),
                    Attribute("strides", .ints([p.strideW])),
                ] : [
                    Attribute("kernel_shape", .ints([p.kernelH, p.kernelW])),
                    Attribute("pads", .ints([p.padTop, p.padLeft, bottom, right])),
                    Attribute("strides", .ints([p.strideH, p.strideW])),
                ]
                let isMax: Bool
                if case .averagePool(_, let cip, _) = l.op {
                    attrs.append(Attribute("count_include_pad", .int(cip ? 1 : 0)))
                    isMax = false
                } else {
                    isMax = true
                }
                y = "\(base)_pool"
                node(isMax ? "MaxPool" : "AveragePool", "\(base)_Pool", [x], [y], attrs)
            case .add(let a):
                node("Add", "\(base)_Add", [x, dq(l.inputs[1])], ["\(base)_add"])
                y = activate("\(base)_add", activation(a.clamp, l.output), base)
            case .clamp(let c):
                y = activate(x, activation(c, l.output), base)
                if y == x {
                    node("Identity", "\(base)_Identity", [x], ["\(base)_identity"])
                    y = "\(base)_identity"
                }
            case .lookup(let f, _):
                y = "\(base)_\(l.op.kernel.rawValue)"
                switch f {
                case .hardSwish:
                    // HardSwish is opset 14; its definition x · HardSigmoid(x; 1/6, 1/2) is opset 13.
                    node("HardSigmoid", "\(base)_HardSigmoid", [x], ["\(base)_gate"],
                         [Attribute("alpha", .float(Float(1) / 6)), Attribute("beta", .float(0.5))])
                    node("Mul", "\(base)_Mul", [x, "\(base)_gate"], [y])
                case .hardSigmoid(let a, let b):
                    node("HardSigmoid", "\(base)_HardSigmoid", [x], [y], [Attribute("alpha", .float(a)), Attribute("beta", .float(b))])
                case .leakyRelu(let a):
                    node("LeakyRelu", "\(base)_LeakyRelu", [x], [y], [Attribute("alpha", .float(a))])
                }
            case .mul(_, let c, _):
                node("Mul", "\(base)_Mul", [x, dq(l.inputs[1])], ["\(base)_mul"])
                y = activate("\(base)_mul", activation(c, l.output), base)
            case .reshape:
                let shape = constant("\(base)_shape", .int64Vector([-1] + model.tensors[l.output]!.shape))
                node("Reshape", "\(base)_Reshape", [x, shape], ["\(base)_reshape"])
                y = "\(base)_reshape"
            }
            qdq(y, l.output)
        }
        let out = model.output
        g.outputs = [ValueInfo(name: out.name, elementType: .float, shape: [.symbol("batch")] + out.shape.map { .value($0) })]
        return g
    }
}
