import CKernels
import Foundation
import ShrinkTensor

/// The binary elementwise operators of ONNX with NumPy broadcasting.
public enum BinaryOp: String, Sendable, CaseIterable {
    /// `Add`
    case add = "Add"
    /// `Sub`
    case sub = "Sub"
    /// `Mul`
    case mul = "Mul"
    /// `Div`
    case div = "Div"
    /// `Pow` (x^y; float only)
    case pow = "Pow"
    /// `Max` of two operands
    case max = "Max"
    /// `Min` of two operands
    case min = "Min"

    /// The operator on two floats.
    @inline(__always)
    func apply(_ x: Float, _ y: Float) -> Float {
        switch self {
        case .add: return x + y
        case .sub: return x - y
        case .mul: return x * y
        case .div: return x / y
        case .pow: return Self.power(x, y)
        case .max: return x.isNaN || y.isNaN ? .nan : Swift.max(x, y)
        case .min: return x.isNaN || y.isNaN ? .nan : Swift.min(x, y)
        }
    }

    /// x^y with the exponents models use most (2, 0.5, 1, 3) exact and fast.
    @inline(__always)
    static func power(_ x: Float, _ y: Float) -> Float {
        if y == 2 { return x * x }
        if y == 1 { return x }
        if y == 0.5 { return x.squareRoot() }
        if y == 3 { return x * x * x }
        return Foundation.pow(x, y)
    }
}

/// The result shape of NumPy broadcasting, or an error naming both shapes.
public func broadcastShape(_ a: [Int], _ b: [Int]) throws -> [Int] {
    let r = max(a.count, b.count)
    var out = [Int](repeating: 1, count: r)
    for i in 0..<r {
        let da = i < r - a.count ? 1 : a[i - (r - a.count)]
        let db = i < r - b.count ? 1 : b[i - (r - b.count)]
        if da == db || db == 1 { out[i] = da } else if da == 1 { out[i] = db } else {
            throw KernelError("shapes \(a) and \(b) cannot be broadcast together")
        }
    }
    return out
}

/// A broadcast iteration plan: the output walked as `outer` odometer dims around one inner run
/// whose operand strides are each 0 or 1, so the inner loop is a plain vectorisable loop.
struct BroadcastPlan {
    var outShape: [Int]
    var outerShape: [Int]
    var outerStrideA: [Int]
    var outerStrideB: [Int]
    var inner: Int
    var innerStrideA: Int
    var innerStrideB: Int

    init(_ a: [Int], _ b: [Int]) throws {
        let out = try broadcastShape(a, b)
        outShape = out
        let r = out.count
        func strides(_ s: [Int]) -> [Int] {
            let padded = [Int](repeating: 1, count: r - s.count) + s
            var st = [Int](repeating: 0, count: r)
            var acc = 1
            for i in stride(from: r - 1, through: 0, by: -1) {
                st[i] = padded[i] == 1 ? 0 : acc
                acc *= padded[i]
            }
            return st
        }
        var sa = strides(a), sb = strides(b)
        var dims = out
        // Drop size-1 output dims, then merge neighbours whose strides chain, so that e.g.
        // [N,C,H,W] + [C,1,1] becomes N × C × (H·W) with an inner run of H·W.
        var keep = [Int]()
        for i in 0..<r where dims[i] != 1 { keep.append(i) }
        dims = keep.map { dims[$0] }; sa = keep.map { sa[$0] }; sb = keep.map { sb[$0] }
        var md = [Int](), ma = [Int](), mb = [Int]()
        for i in 0..<dims.count {
            if let last = md.indices.last,
               ma[last] == sa[i] * dims[i], mb[last] == sb[i] * dims[i] {
                md[last] *= dims[i]; ma[last] = sa[i]; mb[last] = sb[i]
            } else {
                md.append(dims[i]); ma.append(sa[i]); mb.append(sb[i])
            }
        }
        if md.isEmpty { md = [1]; ma = [0]; mb = [0] }
        inner = md.removeLast(); innerStrideA = ma.removeLast(); innerStrideB = mb.removeLast()
        outerShape = md; outerStrideA = ma; outerStrideB = mb
    }
}

/// `runBroadcast` with `op` as a literal operator per case: the common four inline into the
/// loops, where a closure call per element would cost more than the arithmetic.
@inline(__always)
private func runBroadcast(_ op: BinaryOp, _ plan: BroadcastPlan, _ a: UnsafeBufferPointer<Float>, _ b: UnsafeBufferPointer<Float>,
                          _ o: UnsafeMutableBufferPointer<Float>) {
    switch op {
    case .add: runBroadcast(plan, a, b, o, +)
    case .sub: runBroadcast(plan, a, b, o, -)
    case .mul: runBroadcast(plan, a, b, o, *)
    case .div: runBroadcast(plan, a, b, o, /)
    case .pow, .max, .min: runBroadcast(plan, a, b, o) { op.apply($0, $1) }
    }
}

@inline(__always)
private func runBroadcast<T>(_ plan: BroadcastPlan, _ a: UnsafeBufferPointer<T>, _ b: UnsafeBufferPointer<T>,
                             _ o: UnsafeMutableBufferPointer<T>, _ f: (T, T) -> T) {
    let n = plan.inner
    let total = o.count
    if total == 0 { return }
    var idx = [Int](repeating: 0, count: plan.outerShape.count)
    var offA = 0, offB = 0, dst = 0
    let pa = a.baseAddress!, pb = b.baseAddress!, po = o.baseAddress!
    while dst < total {
        let ia = pa + offA, ib = pb + offB, io = po + dst
        switch (plan.innerStrideA, plan.innerStrideB) {
        case (1, 1): for i in 0..<n { io[i] = f(ia[i], ib[i]) }
        case (1, 0): let s = ib[0]; for i in 0..<n { io[i] = f(ia[i], s) }
        case (0, 1): let s = ia[0]; for i in 0..<n { io[i] = f(s, ib[i]) }
        default: let v = f(ia[0], ib[0]); for i in 0..<n { io[i] = v }
        }
        dst += n
        var k = idx.count - 1
        while k >= 0 {
            idx[k] += 1; offA += plan.outerStrideA[k]; offB += plan.outerStrideB[k]
            if idx[k] < plan.outerShape[k] { break }
            offA -= plan.outerStrideA[k] * plan.outerShape[k]
            offB -= plan.outerStrideB[k] * plan.outerShape[k]
            idx[k] = 0
            k -= 1
        }
    }
}

private func broadcastArrays<T: Numeric>(_ op: BinaryOp, _ a: [T], _ sa: [Int], _ b: [T], _ sb: [Int],
                                         add: (T, T) -> T, sub: (T, T) -> T, mul: (T, T) -> T,
                                         div: (T, T) -> T, other: (T, T) -> T) throws -> ([T], [Int]) {
    let plan = try BroadcastPlan(sa, sb)
    var out = [T](repeating: 0, count: try checkedCount(plan.outShape))
    a.withUnsafeBufferPointer { pa in
        b.withUnsafeBufferPointer { pb in
            out.withUnsafeMutableBufferPointer { po in
                switch op {
                case .add: runBroadcast(plan, pa, pb, po, add)
                case .sub: runBroadcast(plan, pa, pb, po, sub)
                case .mul: runBroadcast(plan, pa, pb, po, mul)
                case .div: runBroadcast(plan, pa, pb, po, div)
                case .pow, .max, .min: runBroadcast(plan, pa, pb, po, other)
                }
            }
        }
    }
    return (out, plan.outShape)
}

extension Kernels {
    /// `Add`/`Sub`/`Mul`/`Div` of two float tensors with NumPy broadcasting.
    public static func binary(_ op: BinaryOp, _ a: Tensor, _ b: Tensor) throws -> Tensor {
        var out = a
        try binary(op, into: &out, b)
        return out
    }

    /// `a = a op b`; in place (no allocation) when the result has `a`'s shape and `a` is uniquely referenced.
    /// `threads` > 1 splits a large same-shape, scalar or per-channel operation over the pool.
    public static func binary(_ op: BinaryOp, into a: inout Tensor, _ b: Tensor, threads: Int = 1) throws {
        // Same shape, or a scalar on one side: the common cases.
        if a.shape == b.shape || b.count == 1 && a.rank >= b.rank {
            // Move a's storage out so that it is uniquely referenced and mutated without a copy.
            let scalarB = b.count == 1 && a.shape != b.shape
            var out = a
            a = Tensor(zeros: [])
            let n = out.count
            b.scalars.withUnsafeBufferPointer { pb in
                out.scalars.withUnsafeMutableBufferPointer { po in
                    guard let o = po.baseAddress, let q = pb.baseAddress else { return }
                    splitCount(n, threads: threads) { lo, hi in
                        if scalarB {
                            sameShape(op, o + lo, scalar: q[0], hi - lo)
                        } else {
                            sameShape(op, o + lo, q + lo, hi - lo)
                        }
                    }
                }
            }
            a = out
            return
        }
        let plan = try BroadcastPlan(a.shape, b.shape)
        if plan.outShape == a.shape {
            // b broadcast over a (a per-channel scale or shift): in place, no allocation. Safe
            // because a is read at exactly the offsets written.
            var out = a
            a = Tensor(zeros: [])
            b.scalars.withUnsafeBufferPointer { pb in
                out.scalars.withUnsafeMutableBufferPointer { po in
                    guard plan.outerShape.count == 1, let o = po.baseAddress, let q = pb.baseAddress else {
                        return runBroadcast(op, plan, UnsafeBufferPointer(po), pb, po)
                    }
                    // One outer axis (a per-channel scale or shift over N·C planes): split it.
                    let rows = plan.outerShape[0], inner = plan.inner
                    splitCount(rows * inner, threads: threads, unit: inner) { lo, hi in
                        var sub = plan
                        sub.outerShape = [(hi - lo) / inner]
                        let r0 = lo / inner
                        let span = UnsafeMutableBufferPointer(start: o + r0 * plan.outerStrideA[0], count: hi - lo)
                        let bs = UnsafeBufferPointer(start: q + r0 * plan.outerStrideB[0], count: pb.count - r0 * plan.outerStrideB[0])
                        runBroadcast(op, sub, UnsafeBufferPointer(span), bs, span)
                    }
                }
            }
            a = out
            return
        }
        // Both operands broadcast (or a is the smaller one): a new array, with the operator
        // inlined into the loops (the generic `broadcastArrays` calls a closure per element).
        let count = try checkedCount(plan.outShape)
        let out = [Float](unsafeUninitializedCapacity: count) { po, initialized in
            a.scalars.withUnsafeBufferPointer { pa in
                b.scalars.withUnsafeBufferPointer { pb in runBroadcast(op, plan, pa, pb, po) }
            }
            initialized = count
        }
        a = Tensor(shape: plan.outShape, scalars: out)
    }

    /// `o[i] = o[i] op q[i]` for i < n.
    @inline(__always)
    private static func sameShape(_ op: BinaryOp, _ o: UnsafeMutablePointer<Float>, _ q: UnsafePointer<Float>, _ n: Int) {
        switch op {
        case .add: for i in 0..<n { o[i] += q[i] }
        case .sub: for i in 0..<n { o[i] -= q[i] }
        case .mul: for i in 0..<n { o[i] *= q[i] }
        case .div: for i in 0..<n { o[i] /= q[i] }
        case .pow, .max, .min: for i in 0..<n { o[i] = op.apply(o[i], q[i]) }
        }
    }

    /// `o[i] = o[i] op s` for i < n.
    @inline(__always)
    private static func sameShape(_ op: BinaryOp, _ o: UnsafeMutablePointer<Float>, scalar s: Float, _ n: Int) {
        switch op {
        case .add: for i in 0..<n { o[i] += s }
        case .sub: for i in 0..<n { o[i] -= s }
        case .mul: for i in 0..<n { o[i] *= s }
        case .div: for i in 0..<n { o[i] /= s }
        // The exponent is decided once, so each case is a plain loop the compiler vectorises
        // (a spectrogram's two squares had gone through `power`'s branches per element).
        case .pow where s == 2: for i in 0..<n { o[i] *= o[i] }
        case .pow where s == 1: break
        case .pow where s == 0.5: for i in 0..<n { o[i] = o[i].squareRoot() }
        case .pow where s == 3: for i in 0..<n { o[i] = o[i] * o[i] * o[i] }
        case .pow, .max, .min: for i in 0..<n { o[i] = op.apply(o[i], s) }
        }
    }

    /// `body(lo, hi)` over 0..<count: in `threads` pool parts on multiples of `unit` when there
    /// are at least 32 K elements (below that the hand-off costs more than the memory traffic
    /// it splits), else once.
    static func splitCount(_ count: Int, threads: Int, unit: Int = 16, _ body: (Int, Int) -> Void) {
        let units = (count + unit - 1) / max(1, unit)
        let parts = threads > 1 && count >= 1 << 15 ? min(threads, units) : 1
        if parts <= 1 { return body(0, count) }
        parallelParts(parts) { t in body(min(count, units * t / parts * unit), min(count, units * (t + 1) / parts * unit)) }
    }

    /// Integer `Add`/`Sub`/`Mul`/`Div`/`Max`/`Min` (shape arithmetic); division truncates like
    /// onnxruntime, and division by zero is an error rather than a trap.
    public static func binary(_ op: BinaryOp, _ a: IntTensor, _ b: IntTensor) throws -> IntTensor {
        if op == .div && b.values.contains(0) { throw KernelError("integer division by zero") }
        if op == .pow { throw KernelError("Pow of int64 tensors is not supported") }
        // Wrapping arithmetic: a hostile model's shape arithmetic must not trap the process.
        let (s, shape) = try broadcastArrays(op, a.values, a.shape, b.values, b.shape,
                                             add: { $0 &+ $1 }, sub: { $0 &- $1 }, mul: { $0 &* $1 },
                                             div: { $1 == -1 ? 0 &- $0 : $0 / $1 },
                                             other: { op == .max ? Swift.max($0, $1) : Swift.min($0, $1) })
        return IntTensor(shape: shape, values: s)
    }
}

/// A pointwise activation; also what the executor fuses into a preceding Conv/Gemm/MatMul.
public enum Activation: Sendable, Equatable {
    /// max(0, x)
    case relu
    /// x for x ≥ 0, alpha·x otherwise.
    case leakyRelu(alpha: Float)
    /// 1 / (1 + e^-x)
    case sigmoid
    /// tanh(x)
    case tanh
    /// min(max(x, lo), hi)
    case clip(min: Float, max: Float)
    /// max(0, min(1, alpha·x + beta))
    case hardSigmoid(alpha: Float, beta: Float)
    /// x · max(0, min(1, x/6 + 1/2))
    case hardSwish
    /// x · Φ(x) (`Gelu`, opset 20), or its tanh approximation.
    case gelu(tanhApproximation: Bool)
    /// x for x > 0, alpha·(eˣ − 1) otherwise.
    case elu(alpha: Float)
    /// gamma·x for x > 0, gamma·alpha·(eˣ − 1) otherwise.
    case selu(alpha: Float, gamma: Float)
    /// x · tanh(softplus(x)).
    case mish
    /// x · σ(beta·x) (SiLU for beta 1): the Mul(x, Sigmoid(x)) exporters write for Swish.
    case swish(beta: Float)
    /// scale·x + shift: Mul, Add, Sub or Div by a scalar constant after a layer (paddle2onnx's
    /// learnable affine blocks around each activation), applied while the output is in cache.
    case affine(scale: Float, shift: Float)
    /// One activation, then another (fusion of chains such as LeakyRelu → Max with a constant).
    indirect case then(Activation, Activation)

    /// This activation followed by `next`, with consecutive affine maps composed into one.
    public func followed(by next: Activation) -> Activation {
        switch (self, next) {
        case let (.affine(a1, b1), .affine(a2, b2)):
            return .affine(scale: a1 * a2, shift: b1 * a2 + b2)
        case let (.then(first, .affine(a1, b1)), .affine(a2, b2)):
            return .then(first, .affine(scale: a1 * a2, shift: b1 * a2 + b2))
        default:
            return .then(self, next)
        }
    }

    /// Applies the activation in place over a raw buffer.
    @inline(__always)
    public func apply(_ p: UnsafeMutablePointer<Float>, count n: Int) {
        // The piecewise-linear ones run in C on the CPU's widest vectors (Swift's loops get SSE).
        let isa = KernelPath.selected.isa
        switch self {
        case .relu:
            shrink_activation(isa, Int32(SHRINK_ACT_RELU), p, n, 0, 0)
        case .leakyRelu(let a):
            shrink_activation(isa, Int32(SHRINK_ACT_LEAKY), p, n, a, 0)
        case .sigmoid:
            shrink_sigmoid(KernelPath.selected.isa, p, n, 1, 0)  // vectorised exp, never inf/inf
        case .tanh:
            for i in 0..<n { p[i] = Foundation.tanh(p[i]) }
        case .clip(let lo, let hi):
            shrink_activation(isa, Int32(SHRINK_ACT_CLIP), p, n, lo, hi)
        case .hardSigmoid(let a, let b):
            shrink_activation(isa, Int32(SHRINK_ACT_HARD_SIGMOID), p, n, a, b)
        case .hardSwish:
            shrink_activation(isa, Int32(SHRINK_ACT_HARD_SWISH), p, n, 0, 0)
        case .gelu(let approximate):
            if approximate {
                let c = Float(0.7978845608028654)  // √(2/π)
                for i in 0..<n { let v = p[i]; p[i] = 0.5 * v * (1 + Foundation.tanh(c * (v + 0.044715 * v * v * v))) }
            } else {
                let r = Float(0.7071067811865476)  // 1/√2
                for i in 0..<n { let v = p[i]; p[i] = 0.5 * v * (1 + Foundation.erf(v * r)) }
            }
        case .elu(let a):
            for i in 0..<n { let v = p[i]; p[i] = v > 0 ? v : a * (Foundation.exp(v) - 1) }
        case .selu(let a, let g):
            for i in 0..<n { let v = p[i]; p[i] = v > 0 ? g * v : g * a * (Foundation.exp(v) - 1) }
        case .mish:
            for i in 0..<n {
                let v = p[i]
                let sp = Swift.max(v, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(v)))
                p[i] = v * Foundation.tanh(sp)
            }
        case let .affine(a, b):
            shrink_activation(isa, Int32(SHRINK_ACT_AFFINE), p, n, a, b)
        case .swish(let beta):
            shrink_sigmoid(KernelPath.selected.isa, p, n, beta, 1)
        case let .then(first, second):
            first.apply(p, count: n)
            second.apply(p, count: n)
        }
    }

    /// Applies the activation to a tensor (in place when the tensor is uniquely referenced).
    public func apply(_ x: Tensor) -> Tensor {
        var out = x
        apply(inPlace: &out)
        return out
    }

    /// Applies the activation to a tensor in place.
    public func apply(inPlace x: inout Tensor) { apply(inPlace: &x, threads: 1) }

    /// In place, split over `threads` pool parts when the tensor is large (see `Kernels.splitCount`).
    public func apply(inPlace x: inout Tensor, threads: Int) {
        let n = x.count
        x.scalars.withUnsafeMutableBufferPointer { b in
            guard let p = b.baseAddress else { return }
            Kernels.splitCount(n, threads: threads) { lo, hi in apply(p + lo, count: hi - lo) }
        }
    }
}

/// A pointwise math function of ONNX (not fused into the layers before it).
public enum UnaryOp: String, Sendable, CaseIterable {
    /// `Erf`
    case erf = "Erf"
    /// `Sqrt`
    case sqrt = "Sqrt"
    /// `Exp`
    case exp = "Exp"
    /// `Log`
    case log = "Log"
    /// `Neg`
    case neg = "Neg"
    /// `Abs`
    case abs = "Abs"
    /// `Reciprocal`
    case reciprocal = "Reciprocal"
    /// `Floor`
    case floor = "Floor"
    /// `Ceil`
    case ceil = "Ceil"
    /// `Softplus`: log(1 + eˣ)
    case softplus = "Softplus"
    /// `Softsign`: x / (1 + |x|)
    case softsign = "Softsign"
    /// `Sin`
    case sin = "Sin"
    /// `Cos`
    case cos = "Cos"

    /// Applies the function in place over a raw buffer.
    public func apply(_ p: UnsafeMutablePointer<Float>, count n: Int) {
        switch self {
        case .erf: for i in 0..<n { p[i] = Foundation.erf(p[i]) }
        case .sqrt: for i in 0..<n { p[i] = p[i].squareRoot() }
        case .exp: for i in 0..<n { p[i] = Foundation.exp(p[i]) }
        case .log: for i in 0..<n { p[i] = Foundation.log(p[i]) }
        case .neg: for i in 0..<n { p[i] = -p[i] }
        case .abs: for i in 0..<n { p[i] = Swift.abs(p[i]) }
        case .reciprocal: for i in 0..<n { p[i] = 1 / p[i] }
        case .floor: for i in 0..<n { p[i] = p[i].rounded(.down) }
        case .ceil: for i in 0..<n { p[i] = p[i].rounded(.up) }
        case .softplus:
            // Stable for large |x|: max(x, 0) + log1p(e^-|x|).
            for i in 0..<n { let v = p[i]; p[i] = Swift.max(v, 0) + Foundation.log1p(Foundation.exp(-Swift.abs(v))) }
        case .softsign: for i in 0..<n { let v = p[i]; p[i] = v / (1 + Swift.abs(v)) }
        case .sin: for i in 0..<n { p[i] = Foundation.sin(p[i]) }
        case .cos: for i in 0..<n { p[i] = Foundation.cos(p[i]) }
        }
    }

    /// Applies the function to an int64 tensor (the ops shape arithmetic uses); nil for the others.
    func apply(_ t: IntTensor) -> IntTensor? {
        switch self {
        case .neg: return IntTensor(shape: t.shape, values: t.values.map { 0 &- $0 })
        case .abs: return IntTensor(shape: t.shape, values: t.values.map { $0 == .min ? $0 : Swift.abs($0) })
        case .floor, .ceil: return t
        default: return nil
        }
    }
}
