/// A dense float32 tensor: a shape and contiguous row-major storage, with value semantics.
///
/// Storage is a Swift array, so copies are cheap until one side is mutated (copy-on-write),
/// and the buffer can be handed straight to BLAS/LAPACK.
public struct Tensor: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The size of each axis, outermost first.
    public private(set) var shape: [Int]
    /// The elements in row-major (C) order; `scalars.count == shape.reduce(1, *)`.
    public var scalars: [Float]

    /// Wraps `scalars` (row-major) in a tensor of `shape`; the counts must agree.
    public init(shape: [Int], scalars: [Float]) {
        precondition(shape.allSatisfy { $0 >= 0 }, "negative dimension in shape \(shape)")
        precondition(shape.reduce(1, *) == scalars.count,
                     "shape \(shape) holds \(shape.reduce(1, *)) elements, got \(scalars.count)")
        self.shape = shape
        self.scalars = scalars
    }

    /// A tensor of `shape` filled with `value`.
    public init(repeating value: Float, shape: [Int]) {
        self.init(shape: shape, scalars: [Float](repeating: value, count: shape.reduce(1, *)))
    }

    /// A tensor of zeros.
    public init(zeros shape: [Int]) { self.init(repeating: 0, shape: shape) }

    /// A 2-D tensor from rows of equal length.
    public init(rows: [[Float]]) {
        let cols = rows.first?.count ?? 0
        precondition(rows.allSatisfy { $0.count == cols }, "ragged rows")
        self.init(shape: [rows.count, cols], scalars: rows.flatMap { $0 })
    }

    /// Number of elements.
    public var count: Int { scalars.count }
    /// Number of axes.
    public var rank: Int { shape.count }

    /// Row-major strides in elements.
    public var strides: [Int] { Tensor.strides(for: shape) }

    /// Row-major strides of `shape`, in elements.
    public static func strides(for shape: [Int]) -> [Int] {
        var s = [Int](repeating: 1, count: shape.count)
        var acc = 1
        for i in stride(from: shape.count - 1, through: 0, by: -1) {
            s[i] = acc
            acc *= shape[i]
        }
        return s
    }

    /// Element access by a full multi-index.
    public subscript(_ index: Int...) -> Float {
        get { scalars[offset(index)] }
        set { scalars[offset(index)] = newValue }
    }

    private func offset(_ index: [Int]) -> Int {
        precondition(index.count == shape.count, "index \(index) does not fit shape \(shape)")
        var o = 0
        for (i, n) in zip(index, shape) {
            precondition(i >= 0 && i < n, "index \(index) out of bounds for shape \(shape)")
            o = o * n + i
        }
        return o
    }

    /// The same elements under a new shape; one axis may be -1 (inferred).
    public func reshaped(_ newShape: [Int]) -> Tensor {
        var shape = newShape
        if let minus = shape.firstIndex(of: -1) {
            let known = shape.enumerated().filter { $0.offset != minus }.map(\.element).reduce(1, *)
            precondition(known > 0 && count % known == 0, "cannot reshape \(self.shape) to \(newShape)")
            shape[minus] = count / known
        }
        return Tensor(shape: shape, scalars: scalars)
    }

    /// The axes reordered: result axis `i` is input axis `axes[i]` (NumPy's `transpose(axes)`).
    public func permuted(_ axes: [Int]) -> Tensor {
        precondition(axes.sorted() == Array(0..<rank), "\(axes) is not a permutation of \(rank) axes")
        if axes == Array(0..<rank) { return self }
        let newShape = axes.map { shape[$0] }
        let inStrides = strides
        let srcStrides = axes.map { inStrides[$0] }
        var out = [Float](repeating: 0, count: count)
        if count == 0 { return Tensor(shape: newShape, scalars: out) }
        // Walk the output in order, carrying the source offset incrementally; the innermost
        // axis is a strided copy.
        let innerN = newShape.last!, innerS = srcStrides.last!
        let outer = newShape.dropLast()
        var idx = [Int](repeating: 0, count: outer.count)
        var src = 0
        scalars.withUnsafeBufferPointer { inp in
            out.withUnsafeMutableBufferPointer { o in
                var dst = 0
                while true {
                    var s = src
                    for _ in 0..<innerN {
                        o[dst] = inp[s]
                        dst += 1
                        s += innerS
                    }
                    // increment the outer multi-index
                    var k = outer.count - 1
                    while k >= 0 {
                        idx[k] += 1
                        src += srcStrides[k]
                        if idx[k] < newShape[k] { break }
                        src -= srcStrides[k] * newShape[k]
                        idx[k] = 0
                        k -= 1
                    }
                    if k < 0 { break }
                }
            }
        }
        return Tensor(shape: newShape, scalars: out)
    }

    /// Matrix transpose of a 2-D tensor.
    public func transposed() -> Tensor {
        precondition(rank == 2, "transposed() needs a matrix, got shape \(shape)")
        return permuted([1, 0])
    }

    /// Mode-`n` unfolding: an `shape[n]` × (product of the other sizes) matrix whose columns
    /// run over the remaining axes in row-major order (tensorly's `unfold` convention).
    public func unfolded(mode n: Int) -> Tensor {
        precondition(n >= 0 && n < rank, "mode \(n) out of range for rank \(rank)")
        var axes = [n]
        axes += (0..<rank).filter { $0 != n }
        let p = permuted(axes)
        return p.reshaped([shape[n], count / max(shape[n], 1)])
    }

    /// Inverse of `unfolded(mode:)`: folds a matrix back into a tensor of `shape`.
    public static func folded(_ matrix: Tensor, mode n: Int, shape: [Int]) -> Tensor {
        precondition(matrix.count == shape.reduce(1, *), "cannot fold \(matrix.shape) into \(shape)")
        var moved = [shape[n]]
        moved += shape.enumerated().filter { $0.offset != n }.map(\.element)
        let t = matrix.reshaped(moved)
        // axis 0 of t is mode n; put it back in place
        var inverse = [Int](repeating: 0, count: shape.count)
        var axes = [n]
        axes += (0..<shape.count).filter { $0 != n }
        for (i, a) in axes.enumerated() { inverse[a] = i }
        return t.permuted(inverse)
    }

    /// The Frobenius (Euclidean) norm, accumulated in double precision.
    public var frobeniusNorm: Float {
        var acc = 0.0
        for v in scalars { acc += Double(v) * Double(v) }
        return Float(acc.squareRoot())
    }

    /// A short human-readable form.
    public var description: String {
        let head = scalars.prefix(8).map { String($0) }.joined(separator: ", ")
        return "Tensor(shape: \(shape), [\(head)\(count > 8 ? ", …" : "")])"
    }
}
