import COpenBLAS
import Dispatch
import Foundation
import ShrinkTensor
import Synchronization

/// An int8 tensor in ONNX layout, batch first.
public struct Int8Tensor: Sendable, Equatable, Hashable {
    /// Dimensions, batch first.
    public var shape: [Int]
    /// Elements, row-major.
    public var values: [Int8]

    /// A tensor; `values.count` must equal the product of `shape`.
    public init(shape: [Int], values: [Int8]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }

    /// Number of samples (the first dimension).
    public var batch: Int { shape.first ?? 0 }

    /// Samples `range` (a copy).
    public func samples(_ range: Range<Int>) -> Int8Tensor {
        let per = batch > 0 ? values.count / batch : 0
        return Int8Tensor(shape: [range.count] + shape.dropFirst(),
                          values: Array(values[(range.lowerBound * per)..<(range.upperBound * per)]))
    }
}

/// Runs a `QuantizedModel` with the integer arithmetic of CMSIS-NN's s8 kernels, so what it
/// computes is what the device computes, bit for bit.
///
/// Accumulators are exact: Conv and fully connected layers sum int8 products with BLAS in
/// Double, exact for every integer below 2^53 whatever the summation order (`Quantizer` has
/// checked that every accumulator fits int32), and everything after the sum — bias,
/// requantisation, clamping, pooling, additions — is integer code that mirrors the C kernels.
/// The engine works in ONNX layout (NCHW); the C library in NHWC. Immutable: one engine may run
/// on several threads.
public final class IntegerEngine: Sendable {
    /// The model.
    public let model: QuantizedModel
    /// Conv and fully connected weights as Double, by layer index.
    let weights: [Int: [Double]]
    /// Samples per chunk (bounds the im2col buffers).
    static let chunk = 32

    /// Prepares `model`.
    public init(_ model: QuantizedModel) {
        self.model = model
        var w = [Int: [Double]]()
        for (k, l) in model.layers.enumerated() {
            switch l.op {
            case .conv(let g, let q, _, _, _, _) where !g.isDepthwise: w[k] = q.map { Double($0) }
            case .fullyConnected(_, _, let q, _, _, _, _): w[k] = q.map { Double($0) }
            default: break
            }
        }
        weights = w
    }

    // MARK: float in, float out

    /// `QuantizeLinear` of float inputs ([N, …input shape]) with the input's quantisation.
    public func quantizeInput(_ x: Tensor) -> Int8Tensor {
        let q = model.inputQuantization
        return Int8Tensor(shape: x.shape, values: x.scalars.map { q.quantize($0) })
    }

    /// `DequantizeLinear` of int8 outputs with the output's quantisation.
    public func dequantizeOutput(_ y: Int8Tensor) -> Tensor {
        let q = model.outputQuantization
        return Tensor(shape: y.shape, scalars: y.values.map { q.dequantize($0) })
    }

    /// Runs float inputs [N, …] end to end: quantise, integer layers, dequantise — what the C
    /// library's `shrink_model_run` returns.
    public func run(floats x: Tensor, threads: Int = 1) throws(DeviceError) -> Tensor {
        dequantizeOutput(try run(quantizeInput(x), threads: threads))
    }

    // MARK: int8

    /// Runs int8 inputs [N, …input shape] and returns the int8 outputs [N, …output shape].
    public func run(_ input: Int8Tensor, threads: Int = 1) throws(DeviceError) -> Int8Tensor {
        try run(input, keep: [model.output.name], threads: threads)[model.output.name]!
    }

    /// Runs int8 inputs and returns the tensors named in `keep` (any activation of the model).
    public func run(_ input: Int8Tensor, keep: Set<String>, threads: Int = 1) throws(DeviceError) -> [String: Int8Tensor] {
        guard Array(input.shape.dropFirst()) == model.input.shape else {
            throw DeviceError(.invalidInput, "inputs have shape \(input.shape) but the model takes [N, \(model.input.shape.map(String.init).joined(separator: ", "))]")
        }
        for name in keep where model.tensors[name] == nil {
            throw DeviceError(.invalidInput, "'\(name)' is not a tensor of the device model")
        }
        let n = input.batch
        let chunks = (n + Self.chunk - 1) / Self.chunk
        let parts = Mutex<[[String: Int8Tensor]?]>(Array(repeating: nil, count: chunks))
        let workers = max(1, min(threads, chunks))
        DispatchQueue.concurrentPerform(iterations: workers) { w in
            for c in stride(from: w, to: chunks, by: workers) {
                let r = self.runChunk(input.samples((c * Self.chunk)..<min(n, (c + 1) * Self.chunk)), keep: keep)
                parts.withLock { $0[c] = r }
            }
        }
        let all = parts.withLock { $0.map { $0! } }
        var out = [String: Int8Tensor]()
        for name in keep {
            let shape = [n] + model.tensors[name]!.shape
            out[name] = Int8Tensor(shape: shape, values: all.flatMap { $0[name]!.values })
        }
        return out
    }

    func runChunk(_ input: Int8Tensor, keep: Set<String>) -> [String: Int8Tensor] {
        var live = [model.input.name: input]
        var remaining = [String: Int]()
        for l in model.layers { for i in l.inputs { remaining[i, default: 0] += 1 } }
        var kept = [String: Int8Tensor]()
        if keep.contains(model.input.name) { kept[model.input.name] = input }
        for (k, l) in model.layers.enumerated() {
            let ins = l.inputs.map { live[$0]! }
            let y = runLayer(k, inputs: ins)
            for i in l.inputs {
                remaining[i, default: 0] -= 1
                if remaining[i] == 0 { live[i] = nil }
            }
            live[l.output] = y
            if keep.contains(l.output) { kept[l.output] = y }
        }
        return kept
    }

    /// Runs layer `index` alone on int8 inputs (ONNX layout, batch first): to compare one layer
    /// with another implementation on the same input.
    public func runLayer(_ index: Int, inputs: [Int8Tensor]) -> Int8Tensor {
        let l = model.layers[index]
        let x = inputs[0]
        let n = x.batch
        let inQ = model.quantization[l.inputs[0]]!, outQ = model.quantization[l.output]!
        let outShape = [n] + model.tensors[l.output]!.shape
        switch l.op {
        case .conv(let g, let w, _, let bias, let requant, let clamp):
            if g.isDepthwise {
                return Int8Tensor(shape: outShape, values: depthwise(g, x.values, n: n, weights: w, bias: bias, requant: requant,
                                                                     inZero: inQ.zeroPoint, outZero: outQ.zeroPoint, clamp: clamp))
            }
            return Int8Tensor(shape: outShape, values: conv(g, x.values, n: n, weights: weights[index]!, bias: bias, requant: requant,
                                                            inZero: inQ.zeroPoint, outZero: outQ.zeroPoint, clamp: clamp))
        case .fullyConnected(let i, let o, _, _, let bias, let requant, let clamp):
            return Int8Tensor(shape: outShape, values: fullyConnected(x.values, n: n, inputs: i, outputs: o, weights: weights[index]!,
                                                                      bias: bias, requant: requant, inZero: inQ.zeroPoint,
                                                                      outZero: outQ.zeroPoint, clamp: clamp))
        case .maxPool(let g, let clamp):
            return Int8Tensor(shape: outShape, values: pool(g, x.values, n: n, max: true, countIncludePad: false, zero: 0, clamp: clamp))
        case .averagePool(let g, let cip, let clamp):
            return Int8Tensor(shape: outShape, values: pool(g, x.values, n: n, max: false, countIncludePad: cip,
                                                            zero: inQ.zeroPoint, clamp: clamp))
        case .add(let p):
            let in2 = model.quantization[l.inputs[1]]!
            return Int8Tensor(shape: outShape, values: add(x.values, inputs[1].values, p, zero1: inQ.zeroPoint,
                                                           zero2: in2.zeroPoint, outZero: outQ.zeroPoint))
        case .clamp(let c):
            return Int8Tensor(shape: outShape, values: x.values.map { Int8(min(max(Int32($0), c.min), c.max)) })
        case .reshape:
            return Int8Tensor(shape: outShape, values: x.values)
        case .lookup(_, let table):
            return Int8Tensor(shape: outShape, values: x.values.map { table[Int($0) + 128] })
        case .mul(let r, let c, let perChannel):
            let in2 = model.quantization[l.inputs[1]]!
            return Int8Tensor(shape: outShape, values: mul(x.values, inputs[1].values, n: n, perChannel: perChannel, r, c,
                                                           zero1: inQ.zeroPoint, zero2: in2.zeroPoint, outZero: outQ.zeroPoint))
        }
    }

    // MARK: kernels (NCHW)

    /// acc → requantise → + output zero point → clamp, as every CMSIS-NN s8 kernel ends.
    @inline(__always)
    static func output(_ acc: Int32, _ r: Requantization, _ zero: Int32, _ c: ClampRange) -> Int8 {
        Int8(truncatingIfNeeded: min(max(FixedPoint.requantize(acc, r) + zero, c.min), c.max))
    }

    func conv(_ g: ConvGeometry, _ x: [Int8], n: Int, weights w: [Double], bias: [Int32]?, requant: [Requantization],
              inZero: Int32, outZero: Int32, clamp: ClampRange) -> [Int8] {
        let cg = g.inPerGroup, og = g.outPerGroup, k = cg * g.kernelH * g.kernelW
        let p = g.outH * g.outW, cols = n * p
        let inPlane = g.inH * g.inW
        var out = [Int8](repeating: 0, count: n * g.outC * p)
        var col = [Double](repeating: 0, count: k * cols)
        var acc = [Double](repeating: 0, count: og * cols)
        x.withUnsafeBufferPointer { xp in
            col.withUnsafeMutableBufferPointer { cp in
                acc.withUnsafeMutableBufferPointer { ap in
                    w.withUnsafeBufferPointer { wp in
                        out.withUnsafeMutableBufferPointer { op in
                            for group in 0..<g.group {
                                // im2col: row (c, i, j), column (sample, oy, ox); padding is x − zp = 0.
                                var row = 0
                                for c in 0..<cg {
                                    for i in 0..<g.kernelH {
                                        for j in 0..<g.kernelW {
                                            let base = row * cols
                                            for s in 0..<n {
                                                let plane = (s * g.inC + group * cg + c) * inPlane
                                                for oy in 0..<g.outH {
                                                    let iy = oy * g.strideH - g.padTop + i * g.dilationH
                                                    let dst = base + s * p + oy * g.outW
                                                    guard iy >= 0 && iy < g.inH else {
                                                        for ox in 0..<g.outW { cp[dst + ox] = 0 }
                                                        continue
                                                    }
                                                    for ox in 0..<g.outW {
                                                        let ix = ox * g.strideW - g.padLeft + j * g.dilationW
                                                        cp[dst + ox] = ix >= 0 && ix < g.inW
                                                            ? Double(Int32(xp[plane + iy * g.inW + ix]) - inZero) : 0
                                                    }
                                                }
                                            }
                                            row += 1
                                        }
                                    }
                                }
                                cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(og), Int32(cols), Int32(k), 1,
                                            wp.baseAddress! + group * og * k, Int32(k), cp.baseAddress!, Int32(cols), 0,
                                            ap.baseAddress!, Int32(cols))
                                for o in 0..<og {
                                    let m = group * og + o
                                    let b = bias?[m] ?? 0, r = requant[m]
                                    for s in 0..<n {
                                        let src = o * cols + s * p, dst = (s * g.outC + m) * p
                                        for q in 0..<p {
                                            op[dst + q] = Self.output(Int32(ap[src + q]) + b, r, outZero, clamp)
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    func depthwise(_ g: ConvGeometry, _ x: [Int8], n: Int, weights w: [Int8], bias: [Int32]?, requant: [Requantization],
                   inZero: Int32, outZero: Int32, clamp: ClampRange) -> [Int8] {
        let mult = g.outC / g.inC, kk = g.kernelH * g.kernelW
        let inPlane = g.inH * g.inW, outPlane = g.outH * g.outW
        var out = [Int8](repeating: 0, count: n * g.outC * outPlane)
        x.withUnsafeBufferPointer { xp in
            w.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { op in
                    for s in 0..<n {
                        for m in 0..<g.outC {
                            let c = m / mult
                            let plane = (s * g.inC + c) * inPlane
                            let wb = m * kk
                            let b = bias?[m] ?? 0, r = requant[m]
                            for oy in 0..<g.outH {
                                for ox in 0..<g.outW {
                                    var acc = b
                                    for i in 0..<g.kernelH {
                                        let iy = oy * g.strideH - g.padTop + i * g.dilationH
                                        guard iy >= 0 && iy < g.inH else { continue }
                                        for j in 0..<g.kernelW {
                                            let ix = ox * g.strideW - g.padLeft + j * g.dilationW
                                            guard ix >= 0 && ix < g.inW else { continue }
                                            acc &+= (Int32(xp[plane + iy * g.inW + ix]) - inZero) &* Int32(wp[wb + i * g.kernelW + j])
                                        }
                                    }
                                    op[(s * g.outC + m) * outPlane + oy * g.outW + ox] = Self.output(acc, r, outZero, clamp)
                                }
                            }
                        }
                    }
                }
            }
        }
        return out
    }

    func fullyConnected(_ x: [Int8], n: Int, inputs: Int, outputs: Int, weights w: [Double], bias: [Int32]?,
                        requant: Requantization, inZero: Int32, outZero: Int32, clamp: ClampRange) -> [Int8] {
        let a = x.map { Double(Int32($0) - inZero) }
        var acc = [Double](repeating: 0, count: n * outputs)
        a.withUnsafeBufferPointer { ap in
            w.withUnsafeBufferPointer { wp in
                acc.withUnsafeMutableBufferPointer { cp in
                    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(n), Int32(outputs), Int32(inputs), 1,
                                ap.baseAddress!, Int32(inputs), wp.baseAddress!, Int32(inputs), 0, cp.baseAddress!, Int32(outputs))
                }
            }
        }
        var out = [Int8](repeating: 0, count: n * outputs)
        for s in 0..<n {
            for o in 0..<outputs {
                out[s * outputs + o] = Self.output(Int32(acc[s * outputs + o]) + (bias?[o] ?? 0), requant, outZero, clamp)
            }
        }
        return out
    }

    func pool(_ g: PoolGeometry, _ x: [Int8], n: Int, max isMax: Bool, countIncludePad: Bool, zero: Int32,
              clamp: ClampRange) -> [Int8] {
        let inPlane = g.inH * g.inW, outPlane = g.outH * g.outW
        var out = [Int8](repeating: 0, count: n * g.channels * outPlane)
        x.withUnsafeBufferPointer { xp in
            out.withUnsafeMutableBufferPointer { op in
                for plane in 0..<(n * g.channels) {
                    let src = plane * inPlane
                    for oy in 0..<g.outH {
                        let y0 = oy * g.strideH - g.padTop
                        let ys = max(0, y0), ye = min(g.inH, y0 + g.kernelH)
                        for ox in 0..<g.outW {
                            let x0 = ox * g.strideW - g.padLeft
                            let xs = max(0, x0), xe = min(g.inW, x0 + g.kernelW)
                            var v: Int32
                            if isMax {
                                v = -128
                                for iy in ys..<ye { for ix in xs..<xe { v = max(v, Int32(xp[src + iy * g.inW + ix])) } }
                            } else {
                                var sum: Int32 = 0
                                for iy in ys..<ye { for ix in xs..<xe { sum &+= Int32(xp[src + iy * g.inW + ix]) } }
                                var count = Int32((ye - ys) * (xe - xs))
                                if countIncludePad {
                                    let full = Int32(g.kernelH * g.kernelW)
                                    sum &+= (full - count) &* zero
                                    count = full
                                }
                                v = FixedPoint.roundedAverage(sum, count)
                            }
                            op[plane * outPlane + oy * g.outW + ox] = Int8(min(max(v, clamp.min), clamp.max))
                        }
                    }
                }
            }
        }
        return out
    }

    func add(_ a: [Int8], _ b: [Int8], _ p: AddQuantization, zero1: Int32, zero2: Int32, outZero: Int32) -> [Int8] {
        var out = [Int8](repeating: 0, count: a.count)
        for i in a.indices {
            let x1 = FixedPoint.requantize((Int32(a[i]) - zero1) << p.leftShift, p.input1)
            let x2 = FixedPoint.requantize((Int32(b[i]) - zero2) << p.leftShift, p.input2)
            out[i] = Self.output(x1 + x2, p.output, outZero, p.clamp)
        }
        return out
    }

    /// TFLite's int8 Mul (`arm_elementwise_mul_s8`): the product of the offset inputs,
    /// requantised. With `perChannel`, `b` holds one value per channel of each sample of `a`
    /// (ONNX layout: a channel is a contiguous plane).
    func mul(_ a: [Int8], _ b: [Int8], n: Int, perChannel: Bool, _ r: Requantization, _ c: ClampRange,
             zero1: Int32, zero2: Int32, outZero: Int32) -> [Int8] {
        var out = [Int8](repeating: 0, count: a.count)
        let perSample = a.count / max(1, n)
        let channels = perChannel ? b.count / max(1, n) : perSample
        let plane = perSample / max(1, channels)
        for i in a.indices {
            let j = perChannel ? (i / perSample) * channels + (i % perSample) / plane : i
            out[i] = Self.output((Int32(a[i]) - zero1) * (Int32(b[j]) - zero2), r, outZero, c)
        }
        return out
    }
}
