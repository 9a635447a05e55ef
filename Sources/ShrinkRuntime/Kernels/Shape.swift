import ShrinkTensor

/// Moves elements of either type by index arithmetic only; shape ops are type-agnostic.
private func mapStorage(_ v: Value, float: ([Float]) throws -> [Float], int: ([Int64]) throws -> [Int64],
                        shape: [Int]) rethrows -> Value {
    switch v {
    case .float(let t): return .float(Tensor(shape: shape, scalars: try float(t.scalars)))
    case .int64(let t): return .int64(IntTensor(shape: shape, values: try int(t.values)))
    }
}

/// Row-major permutation of any element type (NumPy `transpose(perm)`).
func permute<T>(_ src: [T], shape: [Int], perm: [Int]) -> [T] {
    let r = shape.count
    let st = Tensor.strides(for: shape)
    let outShape = perm.map { shape[$0] }
    let srcStrides = perm.map { st[$0] }
    let n = src.count
    if n == 0 || r == 0 { return src }
    var out = [T]()
    out.reserveCapacity(n)
    var idx = [Int](repeating: 0, count: r)
    var off = 0
    let innerN = outShape[r - 1], innerS = srcStrides[r - 1]
    src.withUnsafeBufferPointer { s in
        while out.count < n {
            var o = off
            for _ in 0..<innerN { out.append(s[o]); o += innerS }
            var k = r - 2
            while k >= 0 {
                idx[k] += 1; off += srcStrides[k]
                if idx[k] < outShape[k] { break }
                off -= srcStrides[k] * outShape[k]; idx[k] = 0; k -= 1
            }
            if k < 0 { break }
        }
    }
    return out
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
    public static func transpose(_ x: Value, perm: [Int]?) throws -> Value {
        let r = x.shape.count
        let p = perm ?? Array((0..<r).reversed())
        guard p.sorted() == Array(0..<r) else { throw KernelError("Transpose perm \(p) is not a permutation of \(r) axes") }
        let outShape = p.map { x.shape[$0] }
        if p == Array(0..<r) { return x }
        return mapStorage(x, float: { permute($0, shape: x.shape, perm: p) },
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
