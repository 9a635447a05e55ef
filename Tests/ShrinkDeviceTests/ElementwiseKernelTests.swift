import Foundation
import ShrinkDevice
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// The elementwise kernels MobileNetV3-style models need — hard-swish, hard-sigmoid and leaky
/// ReLU as int8 lookup tables, TFLite's int8 Mul (per channel, as squeeze-excitation uses it,
/// and elementwise) — on small graphs of odd shapes: the tables against the float functions, the
/// host-compiled C against the integer engine (exactly) on random int8 tensors.
@Suite struct ElementwiseKernelTests {
    /// A squeeze-excitation block on `[C, H, W]` (or `[C, L]`): x → f(x) → global average →
    /// hard-sigmoid → x · gate (per channel) → x · leaky(x) (elementwise, ReLU fused).
    static func block(_ shape: [Int]) -> DeviceGraph {
        let c = shape[0], h = shape.count == 3 ? shape[1] : 1, w = shape.last!
        let gate = shape.count == 3 ? [c, 1, 1] : [c, 1]
        let pool = PoolGeometry(channels: c, inH: h, inW: w, outH: 1, outW: 1, kernelH: h, kernelW: w,
                                strideH: 1, strideW: 1, padTop: 0, padLeft: 0)
        let layers = [
            DeviceLayer(name: "hswish", op: .lookup(.hardSwish), inputs: ["x"], output: "a", nodes: ["hswish"]),
            DeviceLayer(name: "gap", op: .averagePool(pool, countIncludePad: false), inputs: ["a"], output: "p", nodes: ["gap"]),
            DeviceLayer(name: "hsig", op: .lookup(.hardSigmoid(alpha: 0.2, beta: 0.5)), inputs: ["p"], output: "g", nodes: ["hsig"]),
            DeviceLayer(name: "se", op: .mul(activation: .none), inputs: ["a", "g"], output: "s", nodes: ["se"]),
            DeviceLayer(name: "leaky", op: .lookup(.leakyRelu(alpha: 0.1)), inputs: ["s"], output: "l", nodes: ["leaky"]),
            DeviceLayer(name: "sq", op: .mul(activation: .relu), inputs: ["s", "l"], output: "y", nodes: ["sq"]),
        ]
        var tensors = [String: DeviceTensor]()
        for (n, s) in [("x", shape), ("a", shape), ("p", gate), ("g", gate), ("s", shape), ("l", shape), ("y", shape)] {
            tensors[n] = DeviceTensor(name: n, shape: s)
        }
        return DeviceGraph(input: tensors["x"]!, output: tensors["y"]!, tensors: tensors, layers: layers, notes: [])
    }

    static func quantized(_ shape: [Int]) throws -> QuantizedModel {
        let ranges: [String: ActivationRange] = [
            "x": ActivationRange(lo: -5.1, hi: 4.3), "a": ActivationRange(lo: -0.37, hi: 4.3),
            "g": ActivationRange(lo: 0, hi: 1), "s": ActivationRange(lo: -0.4, hi: 3.9),
            "l": ActivationRange(lo: -0.04, hi: 3.9), "y": ActivationRange(lo: 0, hi: 9),
        ]
        return try Quantizer.quantize(block(shape), calibration: Calibration(method: .minMax, samples: 1, ranges: ranges))
    }

    /// Every table entry is the float function of its dequantised input, quantised: within half
    /// a step of the exact value (QuantizeLinear rounds to nearest).
    @Test func tablesAreTheFunctionsQuantised() throws {
        let q = try Self.quantized([5, 3, 7])
        var checked = 0
        for l in q.layers {
            guard case .lookup(let f, let table) = l.op else { continue }
            let i = q.quantization[l.inputs[0]]!, o = q.quantization[l.output]!
            #expect(table.count == 256)
            for v in -128...127 {
                let x = Double(v - Int(i.zeroPoint)) * Double(i.scale)
                let exact: Double = switch f {
                case .hardSwish: x * min(max(x + 3, 0), 6) / 6
                case .hardSigmoid(let a, let b): max(0, min(1, Double(a) * x + Double(b)))
                case .leakyRelu(let a): x >= 0 ? x : Double(a) * x
                }
                let lo = Double(-128 - o.zeroPoint) * Double(o.scale), hi = Double(127 - o.zeroPoint) * Double(o.scale)
                let got = Double(Int(table[v + 128]) - Int(o.zeroPoint)) * Double(o.scale)
                #expect(abs(got - min(max(exact, lo), hi)) <= Double(o.scale) * 0.5001, "\(f) at \(v)")
                checked += 1
            }
        }
        #expect(checked == 3 * 256)
    }

    /// The per-channel and elementwise products: TFLite's requantised product of the offset
    /// inputs, checked against the real product within one output step.
    @Test func mulIsTheRealProduct() throws {
        let q = try Self.quantized([5, 3, 7])
        var rng = SystemRandomNumberGenerator()
        let x = Int8Tensor(shape: [4, 5, 3, 7], values: (0..<(4 * 105)).map { _ in Int8.random(in: -128...127, using: &rng) })
        let kept = try IntegerEngine(q).run(x, keep: ["a", "g", "s"])
        let (a, g, s) = (kept["a"]!, kept["g"]!, kept["s"]!)
        let qa = q.quantization["a"]!, qg = q.quantization["g"]!, qs = q.quantization["s"]!
        for i in a.values.indices {
            let n = i / 105, ch = (i % 105) / 21
            let real = Double(qa.dequantize(a.values[i])) * Double(qg.dequantize(g.values[n * 5 + ch]))
            let clamped = min(max(real, Double(qs.dequantize(-128))), Double(qs.dequantize(127)))
            #expect(abs(Double(qs.dequantize(s.values[i])) - clamped) <= Double(qs.scale) * 1.0001)
        }
    }

    /// Host gcc against the engine, exactly, on random int8 inputs of odd shapes (2-D and 1-D).
    @Test(arguments: [[5, 3, 7], [3, 1, 9], [6, 11]]) func hostEqualsEngine(shape: [Int]) throws {
        _ = try requiredToolchain()
        let q = try Self.quantized(shape)
        var rng = SystemRandomNumberGenerator()
        let count = shape.reduce(1, *)
        let x = Int8Tensor(shape: [16] + shape, values: (0..<(16 * count)).map { _ in Int8.random(in: -128...127, using: &rng) })
        let lib = try CExporter.export(.int8(q))
        for (name, text) in lib.files { #expect(!text.contains("math.h"), "\(name) uses libm") }
        let dir = scratchDirectory("elementwise-\(shape.map(String.init).joined(separator: "x"))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let onHost = try DeviceRunner(workDirectory: dir).runHost(lib, int8: x)
        #expect(onHost == (try IntegerEngine(q).run(x)))
    }

    /// The float32 library of the same block against the float functions evaluated in Swift.
    @Test func floatLibraryComputesTheFunctions() throws {
        _ = try requiredToolchain()
        let g = Self.block([4, 3, 5])
        var rng = SystemRandomNumberGenerator()
        let x = Tensor(shape: [3, 4, 3, 5], scalars: (0..<180).map { _ in Float.random(in: -6...6, using: &rng) })
        let dir = scratchDirectory("elementwise-float")
        defer { try? FileManager.default.removeItem(at: dir) }
        let out = try DeviceRunner(workDirectory: dir).runHost(try CExporter.export(.float(g)), float: x)
        for n in 0..<3 {
            let xs = Array(x.scalars[(n * 60)..<((n + 1) * 60)])
            let a = xs.map { ElementwiseFunction.hardSwish($0) }
            let gate = (0..<4).map { c in ElementwiseFunction.hardSigmoid(alpha: 0.2, beta: 0.5)(a[(c * 15)..<((c + 1) * 15)].reduce(0, +) / 15) }
            let s = a.indices.map { a[$0] * gate[$0 / 15] }
            let y = s.map { max(0, $0 * ElementwiseFunction.leakyRelu(alpha: 0.1)($0)) }
            for i in 0..<60 {
                #expect(abs(out.scalars[n * 60 + i] - y[i]) <= 1e-4 * max(1, abs(y[i])))
            }
        }
    }
}
