import Foundation
import ShrinkTensor

/// The comparison operators of ONNX; results are booleans carried as int64 0/1.
public enum CompareOp: String, Sendable, CaseIterable {
    /// `Equal`
    case equal = "Equal"
    /// `Less`
    case less = "Less"
    /// `LessOrEqual`
    case lessOrEqual = "LessOrEqual"
    /// `Greater`
    case greater = "Greater"
    /// `GreaterOrEqual`
    case greaterOrEqual = "GreaterOrEqual"

    @inline(__always)
    func test<T: Comparable>(_ a: T, _ b: T) -> Bool {
        switch self {
        case .equal: return a == b
        case .less: return a < b
        case .lessOrEqual: return a <= b
        case .greater: return a > b
        case .greaterOrEqual: return a >= b
        }
    }
}

/// The element type a `Cast` converts to, as the runtime carries it.
public enum CastTarget: Sendable, Equatable {
    /// float, double, float16, bfloat16: carried as float32.
    case float
    /// Every integer type: carried as int64 (truncating floats toward zero, like onnxruntime).
    case integer
    /// bool: carried as int64 0/1.
    case bool
}

/// Visits every index of `shape` (row-major) with the flat offsets of two broadcast operands.
private func broadcastOffsets(_ out: [Int], _ shapes: [[Int]]) -> [[Int]] {
    let r = out.count
    let n = product(out)
    let strides: [[Int]] = shapes.map { s in
        let padded = [Int](repeating: 1, count: r - s.count) + s
        var st = [Int](repeating: 0, count: r)
        var acc = 1
        for i in stride(from: r - 1, through: 0, by: -1) {
            st[i] = padded[i] == 1 ? 0 : acc
            acc *= padded[i]
        }
        return st
    }
    var result = shapes.map { _ in [Int](repeating: 0, count: n) }
    var idx = [Int](repeating: 0, count: r)
    var offs = [Int](repeating: 0, count: shapes.count)
    for k in 0..<n {
        for j in offs.indices { result[j][k] = offs[j] }
        var a = r - 1
        while a >= 0 {
            idx[a] += 1
            for j in offs.indices { offs[j] += strides[j][a] }
            if idx[a] < out[a] { break }
            for j in offs.indices { offs[j] -= strides[j][a] * out[a] }
            idx[a] = 0
            a -= 1
        }
    }
    return result
}

extension Kernels {
    /// `Slice` with starts/ends/axes/steps as ONNX (opset ≥ 10) defines them, clamping out-of-range bounds.
    public static func slice(_ x: Value, starts: [Int64], ends: [Int64], axes: [Int64]?, steps: [Int64]?) throws -> Value {
        let shape = x.shape
        let r = shape.count
        guard starts.count == ends.count, axes.map({ $0.count == starts.count }) ?? true,
              steps.map({ $0.count == starts.count }) ?? true else {
            throw KernelError("Slice starts \(starts), ends \(ends), axes \(axes ?? []) and steps \(steps ?? []) differ in length")
        }
        var begin = [Int](repeating: 0, count: r), step = [Int](repeating: 1, count: r), outShape = shape
        var seen = Set<Int>()
        for k in starts.indices {
            let a = try normalizedAxis(Int(axes?[k] ?? Int64(k)), rank: r, what: "Slice axis")
            guard seen.insert(a).inserted else { throw KernelError("Slice axes \(axes ?? []) repeat") }
            let dim = Int64(shape[a])
            func clamp(_ v: Int64, _ lo: Int64, _ hi: Int64) -> Int64 { Swift.min(Swift.max(v, lo), hi) }
            // Steps beyond the dimension take one element; clamping keeps `e - b + st` from overflowing.
            let st = clamp(steps?[k] ?? 1, -Int64(Int32.max), Int64(Int32.max))
            guard st != 0 else { throw KernelError("Slice step 0") }
            var b = starts[k] < 0 ? starts[k] &+ dim : starts[k]
            var e = ends[k] < 0 ? ends[k] &+ dim : ends[k]
            let n: Int64
            if st > 0 {
                b = clamp(b, 0, dim); e = clamp(e, 0, dim)
                n = e > b ? (e - b + st - 1) / st : 0
            } else {
                b = clamp(b, -1, dim - 1); e = clamp(e, -1, dim - 1)
                n = b > e ? (b - e + (-st) - 1) / (-st) : 0
            }
            begin[a] = Int(b); step[a] = Int(st); outShape[a] = Int(n)
        }
        let total = try checkedCount(outShape, "Slice output")
        let st = Tensor.strides(for: shape)
        func take<T>(_ src: [T]) -> [T] {
            var out = [T]()
            out.reserveCapacity(total)
            guard total > 0 else { return out }
            var idx = [Int](repeating: 0, count: r)
            while true {
                var off = 0
                for a in 0..<r { off += (begin[a] + idx[a] * step[a]) * st[a] }
                out.append(src[off])
                var a = r - 1
                while a >= 0 {
                    idx[a] += 1
                    if idx[a] < outShape[a] { break }
                    idx[a] = 0
                    a -= 1
                }
                if a < 0 { break }
            }
            return out
        }
        if r == 0 { return x }
        switch x {
        case .float(let t): return .float(Tensor(shape: outShape, scalars: take(t.scalars)))
        case .int64(let t): return .int64(IntTensor(shape: outShape, values: take(t.values)))
        }
    }

    /// `Split` along `axis` into the given sizes.
    /// `threads` > 1 copies a large part's runs in pool parts.
    public static func split(_ x: Value, axis: Int, sizes: [Int], threads: Int = 1) throws -> [Value] {
        let shape = x.shape
        let a = try normalizedAxis(axis, rank: shape.count, what: "Split axis")
        guard sizes.allSatisfy({ $0 >= 0 && $0 <= shape[a] }), sizes.reduce(0, +) == shape[a] else {
            throw KernelError("Split sizes \(sizes) do not add up to axis \(a) of \(shape)")
        }
        // Each part is, per index of the axes before `a`, one contiguous run of the input.
        let outer = product(shape.prefix(a)), inner = product(shape.dropFirst(a + 1)), row = shape[a] * inner
        func parts<T>(_ values: [T], _ make: ([Int], [T]) -> Value) -> [Value] {
            var start = 0
            return values.withUnsafeBufferPointer { src in
                sizes.map { size in
                    var partShape = shape
                    partShape[a] = size
                    let run = size * inner, from = start * inner
                    start += size
                    let part = [T](unsafeUninitializedCapacity: outer * run) { dst, initialized in
                        if run > 0 {
                            let d = dst.baseAddress!, s = src.baseAddress!
                            splitCount(outer * run, threads: threads, unit: run) { lo, hi in
                                for o in (lo / run)..<(hi / run) {
                                    (d + o * run).initialize(from: s + o * row + from, count: run)
                                }
                            }
                        }
                        initialized = outer * run
                    }
                    return make(partShape, part)
                }
            }
        }
        switch x {
        case .float(let t): return parts(t.scalars) { .float(Tensor(shape: $0, scalars: $1)) }
        case .int64(let t): return parts(t.values) { .int64(IntTensor(shape: $0, values: $1)) }
        }
    }

    /// The sizes `Split` uses: given, or `outputs` near-equal parts (the last one smaller).
    public static func splitSizes(dimension: Int, outputs: Int) throws -> [Int] {
        guard outputs >= 1 else { throw KernelError("Split needs at least one output") }
        let chunk = (dimension + outputs - 1) / outputs
        var sizes: [Int] = []
        var left = dimension
        for _ in 0..<outputs { let s = Swift.min(chunk, left); sizes.append(s); left -= s }
        return sizes
    }

    /// `Expand`: broadcasts `x` to `shape` (bidirectionally, as ONNX specifies).
    public static func expand(_ x: Value, shape: [Int64]) throws -> Value {
        let target = try broadcastShape(x.shape, shape.map { Int($0) })
        _ = try checkedCount(target, "Expand output")
        let offs = broadcastOffsets(target, [x.shape])[0]
        switch x {
        case .float(let t): return .float(Tensor(shape: target, scalars: offs.map { t.scalars[$0] }))
        case .int64(let t): return .int64(IntTensor(shape: target, values: offs.map { t.values[$0] }))
        }
    }

    /// `Tile`: repeats `x` `repeats[i]` times along axis i.
    public static func tile(_ x: Value, repeats: [Int64]) throws -> Value {
        let s = x.shape
        guard repeats.count == s.count, repeats.allSatisfy({ $0 >= 0 }) else {
            throw KernelError("Tile repeats \(repeats) must be \(s.count) non-negative counts")
        }
        var out: [Int] = []
        for (d, r) in zip(s, repeats) {
            let (n, overflow) = d.multipliedReportingOverflow(by: Int(r))
            guard !overflow else { throw KernelError("Tile repeats \(repeats) of shape \(s) overflow") }
            out.append(n)
        }
        let total = try checkedCount(out, "Tile output")
        let st = Tensor.strides(for: s)
        var src = [Int](repeating: 0, count: total)
        var idx = [Int](repeating: 0, count: s.count)
        for k in 0..<total {
            var off = 0
            for a in 0..<s.count { off += (idx[a] % s[a]) * st[a] }
            src[k] = off
            var a = s.count - 1
            while a >= 0 { idx[a] += 1; if idx[a] < out[a] { break }; idx[a] = 0; a -= 1 }
        }
        switch x {
        case .float(let t): return .float(Tensor(shape: out, scalars: src.map { t.scalars[$0] }))
        case .int64(let t): return .int64(IntTensor(shape: out, values: src.map { t.values[$0] }))
        }
    }

    /// `Where(condition, x, y)` with broadcasting; `x` and `y` must share the element type.
    public static func whereSelect(_ c: IntTensor, _ x: Value, _ y: Value) throws -> Value {
        let out = try broadcastShape(broadcastShape(c.shape, x.shape), y.shape)
        _ = try checkedCount(out, "Where output")
        let o = broadcastOffsets(out, [c.shape, x.shape, y.shape])
        switch (x, y) {
        case (.float(let a), .float(let b)):
            return .float(Tensor(shape: out, scalars: o[0].indices.map { c.values[o[0][$0]] != 0 ? a.scalars[o[1][$0]] : b.scalars[o[2][$0]] }))
        case (.int64(let a), .int64(let b)):
            return .int64(IntTensor(shape: out, values: o[0].indices.map { c.values[o[0][$0]] != 0 ? a.values[o[1][$0]] : b.values[o[2][$0]] }))
        default:
            throw KernelError("Where needs X and Y of one element type, got \(x.typeName) and \(y.typeName)")
        }
    }

    /// A comparison with broadcasting; the result is 0/1 int64.
    public static func compare(_ op: CompareOp, _ a: Value, _ b: Value) throws -> IntTensor {
        let out = try broadcastShape(a.shape, b.shape)
        _ = try checkedCount(out, "\(op.rawValue) output")
        let o = broadcastOffsets(out, [a.shape, b.shape])
        switch (a, b) {
        case (.int64(let x), .int64(let y)):
            return IntTensor(shape: out, values: o[0].indices.map { op.test(x.values[o[0][$0]], y.values[o[1][$0]]) ? 1 : 0 })
        default:
            let x = a.asFloat, y = b.asFloat
            return IntTensor(shape: out, values: o[0].indices.map { op.test(x.scalars[o[0][$0]], y.scalars[o[1][$0]]) ? 1 : 0 })
        }
    }

    /// ONNX `Mod` with NumPy broadcasting. `fmod: false` (integers only) gives the remainder
    /// with the divisor's sign, as Python's `%`; `fmod: true` the dividend's, as C's `fmod`.
    /// An integer division by zero is an error, not a trap.
    public static func modulo(_ a: Value, _ b: Value, fmod: Bool) throws -> Value {
        let out = try broadcastShape(a.shape, b.shape)
        _ = try checkedCount(out, "Mod output")
        let o = broadcastOffsets(out, [a.shape, b.shape])
        switch (a, b) {
        case (.int64(let x), .int64(let y)):
            var values = [Int64](repeating: 0, count: o[0].count)
            for i in values.indices {
                let p = x.values[o[0][i]], q = y.values[o[1][i]]
                guard q != 0 else { throw KernelError("Mod: integer division by zero") }
                // `&%` semantics without the Int64.min % -1 trap.
                var r = q == -1 ? 0 : p % q
                if !fmod && r != 0 && (r < 0) != (q < 0) { r += q }
                values[i] = r
            }
            return .int64(IntTensor(shape: out, values: values))
        default:
            guard fmod else {
                throw KernelError("Mod of floating-point tensors needs fmod=1 (the ONNX specification); the model sets fmod=0")
            }
            let x = a.asFloat, y = b.asFloat
            return .float(Tensor(shape: out, scalars: o[0].indices.map { Foundation.fmod(x.scalars[o[0][$0]], y.scalars[o[1][$0]]) }))
        }
    }

    /// `Not` of a 0/1 tensor.
    public static func logicalNot(_ x: IntTensor) -> IntTensor {
        IntTensor(shape: x.shape, values: x.values.map { $0 == 0 ? 1 : 0 })
    }

    /// `Cast` to what the runtime carries for the target type.
    public static func cast(_ x: Value, to target: CastTarget) -> Value {
        switch (x, target) {
        case (.float, .float), (.int64, .integer): return x
        case (.int64(let t), .float): return .float(Tensor(shape: t.shape, scalars: t.values.map { Float($0) }))
        case (.int64(let t), .bool): return .int64(IntTensor(shape: t.shape, values: t.values.map { $0 != 0 ? 1 : 0 }))
        case (.float(let t), .bool): return .int64(IntTensor(shape: t.shape, values: t.scalars.map { $0 != 0 ? 1 : 0 }))
        case (.float(let t), .integer):
            return .int64(IntTensor(shape: t.shape, values: t.scalars.map { v in
                guard v.isFinite else { return v.isNaN ? 0 : (v > 0 ? .max : .min) }
                return v >= 9.2e18 ? .max : (v <= -9.2e18 ? .min : Int64(v))
            }))
        }
    }

    /// `ConstantOfShape`: a tensor of `shape` filled with `value`'s single element.
    public static func constantOfShape(_ shape: [Int64], value: Value) throws -> Value {
        guard shape.allSatisfy({ $0 >= 0 }) else { throw KernelError("ConstantOfShape shape \(shape) has a negative dimension") }
        let s = shape.map { Int($0) }
        let n = try checkedCount(s, "ConstantOfShape output")
        switch value {
        case .float(let t): return .float(Tensor(shape: s, scalars: [Float](repeating: t.scalars.first ?? 0, count: n)))
        case .int64(let t): return .int64(IntTensor(shape: s, values: [Int64](repeating: t.values.first ?? 0, count: n)))
        }
    }

    /// The element count of `Range(a, b, c)`, checked before converting (a NaN, an infinity or a
    /// count beyond `Int` would trap in `Int(_:)`).
    static func rangeCount(_ a: Double, _ b: Double, _ c: Double) throws -> Int {
        let q = ((b - a) / c).rounded(.up)
        guard !q.isNaN, a.isFinite, b.isFinite, c.isFinite else {
            throw KernelError("Range(\(a), \(b), \(c)) has no finite length")
        }
        guard q > 0 else { return 0 }
        guard q <= Double(maximumElementCount) else { throw KernelError("Range(\(a), \(b), \(c)) has \(q) elements, too many") }
        return Int(q)
    }

    /// `Range(start, limit, delta)` of either element type.
    public static func range(_ start: Value, _ limit: Value, _ delta: Value) throws -> Value {
        switch (start, limit, delta) {
        case (.int64(let s), .int64(let l), .int64(let d)):
            guard let a = s.values.first, let b = l.values.first, let c = d.values.first, c != 0 else {
                throw KernelError("Range needs scalar start, limit and a non-zero delta")
            }
            let n = try rangeCount(Double(a), Double(b), Double(c))
            return .int64(IntTensor(shape: [n], values: (0..<n).map { a &+ Int64($0) &* c }))
        default:
            guard let a = start.asFloat.scalars.first, let b = limit.asFloat.scalars.first,
                  let c = delta.asFloat.scalars.first, c != 0 else {
                throw KernelError("Range needs scalar start, limit and a non-zero delta")
            }
            let n = try rangeCount(Double(a), Double(b), Double(c))
            return .float(Tensor(shape: [n], scalars: (0..<n).map { a + Float($0) * c }))
        }
    }
}

/// How `Pad` fills the border.
public enum PadMode: String, Sendable {
    /// A constant value.
    case constant
    /// Mirror without repeating the edge (`reflect`).
    case reflect
    /// Repeat the edge value.
    case edge
    /// Wrap around (opset 19).
    case wrap
}

extension Kernels {
    /// `Pad`: `pads` lists the begin counts of every padded axis, then the end counts (negative
    /// values crop); `axes` nil means every axis in order.
    public static func pad(_ x: Value, pads: [Int64], axes: [Int64]?, mode: PadMode, value: Float) throws -> Value {
        let shape = x.shape
        let r = shape.count
        let ax = try (axes ?? (0..<Int64(r)).map { $0 }).map { try normalizedAxis(Int($0), rank: r, what: "Pad axis") }
        guard pads.count == 2 * ax.count else { throw KernelError("Pad pads \(pads) should have \(2 * ax.count) values") }
        // Larger pads would overflow the index arithmetic below (and no tensor is that large).
        let limit = Int64(maximumElementCount)
        guard pads.allSatisfy({ $0 >= -limit && $0 <= limit }) else {
            throw KernelError("Pad pads \(pads) are out of range")
        }
        var begin = [Int](repeating: 0, count: r), end = [Int](repeating: 0, count: r)
        for (k, a) in ax.enumerated() { begin[a] = Int(pads[k]); end[a] = Int(pads[k + ax.count]) }
        let out = try (0..<r).map { a -> Int in
            let d = shape[a] + begin[a] + end[a]
            guard d >= 0 else { throw KernelError("Pad crops axis \(a) of \(shape) below zero") }
            if mode != .constant && (shape[a] == 0 || (mode == .reflect && (begin[a] >= shape[a] || end[a] >= shape[a]))) && d > shape[a] {
                throw KernelError("Pad mode \(mode.rawValue) cannot pad axis \(a) of size \(shape[a]) by \(begin[a]), \(end[a])")
            }
            return d
        }
        let total = try checkedCount(out, "Pad output")
        let st = Tensor.strides(for: shape)
        // Source offset of every output element, or -1 for the constant.
        var src = [Int](repeating: -1, count: total)
        var idx = [Int](repeating: 0, count: r)
        for k in 0..<total {
            var off = 0
            var inside = true
            for a in 0..<r {
                var i = idx[a] - begin[a]
                let n = shape[a]
                if i < 0 || i >= n {
                    switch mode {
                    case .constant: inside = false
                    case .edge: i = Swift.min(Swift.max(i, 0), n - 1)
                    case .wrap: i = ((i % n) + n) % n
                    case .reflect:
                        let period = 2 * (n - 1)
                        if period == 0 { i = 0 } else {
                            i = ((i % period) + period) % period
                            if i >= n { i = period - i }
                        }
                    }
                }
                if !inside { break }
                off += i * st[a]
            }
            src[k] = inside ? off : -1
            var a = r - 1
            while a >= 0 { idx[a] += 1; if idx[a] < out[a] { break }; idx[a] = 0; a -= 1 }
        }
        switch x {
        case .float(let t): return .float(Tensor(shape: out, scalars: src.map { $0 >= 0 ? t.scalars[$0] : value }))
        case .int64(let t): return .int64(IntTensor(shape: out, values: src.map { $0 >= 0 ? t.values[$0] : Int64(value) }))
        }
    }

    /// `PRelu`: x where x ≥ 0, slope·x elsewhere; `slope` broadcasts to x.
    public static func prelu(_ x: Tensor, slope: Tensor) throws -> Tensor {
        let s = try broadcastTo(slope, x.shape, what: "PRelu slope")
        var out = x.scalars
        for i in out.indices where out[i] < 0 { out[i] *= s[i] }
        return Tensor(shape: x.shape, scalars: out)
    }
}

extension Value {
    /// The value as floats (int64 converted).
    var asFloat: Tensor {
        switch self {
        case .float(let t): return t
        case .int64(let t): return Tensor(shape: t.shape, scalars: t.values.map { Float($0) })
        }
    }
}
