import CKernels
import ShrinkTensor

/// Moves elements of either type by index arithmetic only; shape ops are type-agnostic.
private func mapStorage(_ v: Value, float: ([Float]) throws -> [Float], int: ([Int64]) throws -> [Int64],
                        shape: [Int]) rethrows -> Value {
    switch v {
    case .float(let t): return .float(Tensor(shape: shape, scalars: try float(t.scalars)))
    case .int64(let t): return .int64(IntTensor(shape: shape, values: try int(t.values)))
    }
}

/// A permutation with its size-1 axes dropped and the runs of input axes that stay adjacent (and
/// in order) merged: `[N,1,257,197]` by `[0,1,3,2]` becomes `[N,257,197]` by `[0,2,1]`. The
/// element order it describes is the original's.
func simplifiedPermutation(shape: [Int], perm: [Int]) -> (shape: [Int], perm: [Int]) {
    let kept = (0..<shape.count).filter { shape[$0] != 1 }
    var rank = [Int](repeating: -1, count: shape.count)
    for (i, a) in kept.enumerated() { rank[a] = i }
    let p = perm.compactMap { rank[$0] >= 0 ? rank[$0] : nil }
    // Groups of consecutive output positions whose input axes are consecutive too.
    var groups: [[Int]] = []
    for a in p {
        if let last = groups.last?.last, a == last + 1 { groups[groups.count - 1].append(a) } else { groups.append([a]) }
    }
    let byInput = groups.indices.sorted { groups[$0][0] < groups[$1][0] }
    var position = [Int](repeating: 0, count: groups.count)
    for (i, g) in byInput.enumerated() { position[g] = i }
    let mergedShape = byInput.map { groups[$0].reduce(1) { $0 * shape[kept[$1]] } }
    return (mergedShape, groups.indices.map { position[$0] })
}

/// Row-major permutation of any element type (NumPy `transpose(perm)`), on the simplified
/// permutation: runs that stay contiguous are block copies, a (batched) swap of the last two axes
/// is transposed in 8×8 register blocks (floats, `shrink_transpose`, split over `threads` by
/// matrices) or 16×16 tiles that stay in L1, and anything else walks the output in order.
func permute<T>(_ src: [T], shape: [Int], perm: [Int], threads: Int = 1) -> [T] {
    let n = src.count
    let (dims, p) = simplifiedPermutation(shape: shape, perm: perm)
    if n == 0 || p == Array(0..<p.count) { return src }
    let r = dims.count
    let st = Tensor.strides(for: dims)
    let outShape = p.map { dims[$0] }
    let srcStrides = p.map { st[$0] }
    return [T](unsafeUninitializedCapacity: n) { out, initialized in
        src.withUnsafeBufferPointer { sb in
            let s = sb.baseAddress!, o = out.baseAddress!
            if r >= 2, p[r - 2] == r - 1, p[r - 1] == r - 2, Array(p.prefix(r - 2)) == Array(0..<(r - 2)) {
                // [B, R, C] → [B, C, R] in tiles.
                let rows = dims[r - 2], cols = dims[r - 1], batch = n / (rows * cols), tile = 16
                if T.self == Float.self {
                    // Floats: 8×8 blocks in vector registers.
                    let fs = UnsafeRawPointer(s).assumingMemoryBound(to: Float.self)
                    let fo = UnsafeMutableRawPointer(o).assumingMemoryBound(to: Float.self)
                    let m = rows * cols
                    Kernels.splitCount(n, threads: batch > 1 ? threads : 1, unit: m) { lo, hi in
                        for b in (lo / m)..<(hi / m) {
                            shrink_transpose(KernelPath.selected.isa, fs + b * m, rows, cols, fo + b * m)
                        }
                    }
                    initialized = n
                    return
                }
                for b in 0..<batch {
                    let sp = s + b * rows * cols, op = o + b * rows * cols
                    for i0 in stride(from: 0, to: rows, by: tile) {
                        let i1 = min(rows, i0 + tile)
                        for j0 in stride(from: 0, to: cols, by: tile) {
                            let j1 = min(cols, j0 + tile)
                            for j in j0..<j1 {
                                for i in i0..<i1 { (op + j * rows + i).initialize(to: sp[i * cols + j]) }
                            }
                        }
                    }
                }
                initialized = n
                return
            }
            // The output in order: a run of the innermost output axis per step of the outer
            // odometer, a block copy when that axis is the input's last.
            let innerN = outShape[r - 1], innerS = srcStrides[r - 1]
            var idx = [Int](repeating: 0, count: r)
            var off = 0, dst = 0
            while dst < n {
                if innerS == 1 {
                    (o + dst).initialize(from: s + off, count: innerN)
                } else {
                    var q = off
                    for t in 0..<innerN { (o + dst + t).initialize(to: s[q]); q += innerS }
                }
                dst += innerN
                var k = r - 2
                while k >= 0 {
                    idx[k] += 1; off += srcStrides[k]
                    if idx[k] < outShape[k] { break }
                    off -= srcStrides[k] * outShape[k]; idx[k] = 0; k -= 1
                }
                if k < 0 { break }
            }
            initialized = n
        }
    }
}

extension Kernels {
    /// `Flatten`: [d0…d(axis-1), d(axis)…] → 2-D.
    public static func flatten(_ x: Value, axis: Int) throws -> Value {
        let r = x.shape.count
        let a = axis < 0 ? axis + r : axis
        guard a >= 0 && a <= r else { throw KernelError("Flatten axis \(axis) is out of range for rank \(r)") }
        return x.withShape([product(x.shape.prefix(a)), product(x.shape.dropFirst(a))])
    }

    /// The shape `Reshape` produces: 0 copies the input dimension (unless `allowzero`), -1 is inferred.
    public static func reshapeTarget(_ input: [Int], _ spec: [Int64], allowZero: Bool) throws -> [Int] {
        var out = spec.map(Int.init)
        var infer: Int?
        for (i, d) in out.enumerated() {
            if d == -1 {
                guard infer == nil else { throw KernelError("Reshape shape \(spec) has more than one -1") }
                infer = i
            } else if d == 0 && !allowZero {
                guard i < input.count else { throw KernelError("Reshape shape \(spec) copies axis \(i) that input \(input) lacks") }
                out[i] = input[i]
            } else if d < 0 {
                throw KernelError("Reshape shape \(spec) has a negative dimension")
            }
        }
        let total = try checkedCount(input, "Reshape input")
        if let i = infer {
            let known = try checkedCount(out.enumerated().filter { $0.offset != i }.map(\.element), "Reshape shape")
            guard known > 0, total % known == 0 else { throw KernelError("cannot reshape \(input) to \(spec)") }
            out[i] = total / known
        }
        guard try checkedCount(out, "Reshape shape") == total else { throw KernelError("cannot reshape \(input) (\(total) elements) to \(spec)") }
        return out
    }

    /// `Reshape`.
    public static func reshape(_ x: Value, shape spec: [Int64], allowZero: Bool = false) throws -> Value {
        x.withShape(try reshapeTarget(x.shape, spec, allowZero: allowZero))
    }

    /// `Transpose`; `perm` defaults to reversing the axes.
    /// `threads` > 1 splits a large batched swap of the last two axes by matrices.
    public static func transpose(_ x: Value, perm: [Int]?, threads: Int = 1) throws -> Value {
        let r = x.shape.count
        let p = perm ?? Array((0..<r).reversed())
        guard p.sorted() == Array(0..<r) else { throw KernelError("Transpose perm \(p) is not a permutation of \(r) axes") }
        let outShape = p.map { x.shape[$0] }
        if p == Array(0..<r) { return x }
        return mapStorage(x, float: { permute($0, shape: x.shape, perm: p, threads: threads) },
                          int: { permute($0, shape: x.shape, perm: p) }, shape: outShape)
    }

    /// `Concat` along `axis`; all inputs must share the element type and the other dimensions.
    public static func concat(_ xs: [Value], axis: Int) throws -> Value {
        guard let first = xs.first else { throw KernelError("Concat needs at least one input") }
        let r = first.shape.count
        let a = try normalizedAxis(axis, rank: r)
        for v in xs {
            guard v.shape.count == r, v.typeName == first.typeName else {
                throw KernelError("Concat inputs disagree: \(xs.map { "\($0.typeName)\($0.shape)" })")
            }
            for i in 0..<r where i != a && v.shape[i] != first.shape[i] {
                throw KernelError("Concat inputs disagree off axis \(a): \(xs.map(\.shape))")
            }
        }
        var outShape = first.shape
        outShape[a] = xs.reduce(0) { $0 + $1.shape[a] }
        _ = try checkedCount(outShape, "Concat output")
        let outer = product(first.shape.prefix(a))
        func join<T>(_ arrays: [[T]]) -> [T] {
            var out = [T]()
            out.reserveCapacity(product(outShape))
            let runs = xs.map { product($0.shape.dropFirst(a)) }
            for o in 0..<outer {
                for (arr, run) in zip(arrays, runs) { out.append(contentsOf: arr[(o * run)..<((o + 1) * run)]) }
            }
            return out
        }
        switch first {
        case .float:
            return .float(Tensor(shape: outShape, scalars: join(xs.map { $0.floatTensor!.scalars })))
        case .int64:
            return .int64(IntTensor(shape: outShape, values: join(xs.map { $0.intTensor!.values })))
        }
    }

    /// `Shape` (with opset-15 `start`/`end` slicing).
    public static func shape(_ x: Value, start: Int? = nil, end: Int? = nil) -> IntTensor {
        let r = x.shape.count
        func clamp(_ v: Int) -> Int { Swift.min(Swift.max(v < 0 ? v + r : v, 0), r) }
        let s = clamp(start ?? 0), e = clamp(end ?? r)
        let dims = s < e ? Array(x.shape[s..<e]) : []
        return IntTensor(dims.map(Int64.init))
    }

    /// `Gather` along `axis`; negative indices count from the end.
    public static func gather(_ data: Value, indices: IntTensor, axis: Int) throws -> Value {
        let shape = data.shape
        guard !shape.isEmpty else { throw KernelError("Gather needs data of rank ≥ 1") }
        let a = try normalizedAxis(axis, rank: shape.count)
        let dim = shape[a]
        var idx = [Int]()
        idx.reserveCapacity(indices.count)
        for v in indices.values {
            let i = v < 0 ? Int(v) + dim : Int(v)
            guard i >= 0 && i < dim else { throw KernelError("Gather index \(v) is out of range for axis \(a) of size \(dim)") }
            idx.append(i)
        }
        let outer = product(shape.prefix(a)), inner = product(shape.dropFirst(a + 1))
        let outShape = Array(shape.prefix(a)) + indices.shape + Array(shape.dropFirst(a + 1))
        _ = try checkedCount(outShape, "Gather output")
        func take<T>(_ src: [T]) -> [T] {
            var out = [T]()
            out.reserveCapacity(outer * idx.count * inner)
            for o in 0..<outer {
                for i in idx {
                    let base = (o * dim + i) * inner
                    out.append(contentsOf: src[base..<(base + inner)])
                }
            }
            return out
        }
        return mapStorage(data, float: take, int: take, shape: outShape)
    }

    /// `Unsqueeze`: inserts size-1 axes at `axes` (positions in the output).
    public static func unsqueeze(_ x: Value, axes: [Int]) throws -> Value {
        let r = x.shape.count + axes.count
        let norm = try axes.map { try normalizedAxis($0, rank: r) }
        guard Set(norm).count == norm.count else { throw KernelError("Unsqueeze axes \(axes) repeat") }
        var out = [Int]()
        var it = x.shape.makeIterator()
        for i in 0..<r { out.append(norm.contains(i) ? 1 : it.next()!) }
        return x.withShape(out)
    }

    /// `Squeeze`: removes the given size-1 axes, or every size-1 axis when `axes` is nil.
    public static func squeeze(_ x: Value, axes: [Int]?) throws -> Value {
        let s = x.shape
        if let axes {
            let norm = try Set(axes.map { try normalizedAxis($0, rank: s.count) })
            for a in norm where s[a] != 1 { throw KernelError("Squeeze axis \(a) has size \(s[a]), not 1") }
            return x.withShape(s.enumerated().filter { !norm.contains($0.offset) }.map(\.element))
        }
        return x.withShape(s.filter { $0 != 1 })
    }
}
