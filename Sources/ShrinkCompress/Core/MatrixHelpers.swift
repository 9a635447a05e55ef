import ShrinkTensor

/// Small matrix utilities the methods share. Products go through BLAS (`Tensor.matmul`);
/// the loops here only copy or scale O(size) elements.
enum Mat {
    /// `op(a)·op(b)`, errors reported against `layer`.
    static func mul(_ a: Tensor, _ b: Tensor, ta: Bool = false, tb: Bool = false,
                    layer: String) throws(DecompositionError) -> Tensor {
        try numerics(layer) { () throws(LinearAlgebraError) in
            try a.matmul(b, transposeSelf: ta, transposeOther: tb)
        }
    }

    /// The first `count` columns of a row-major matrix.
    static func columns(_ a: Tensor, _ count: Int) -> Tensor {
        let (m, n) = (a.shape[0], a.shape[1])
        if count == n { return a }
        var out = [Float](repeating: 0, count: m * count)
        for i in 0..<m {
            for j in 0..<count { out[i * count + j] = a.scalars[i * n + j] }
        }
        return Tensor(shape: [m, count], scalars: out)
    }

    /// The first `count` rows of a row-major matrix.
    static func rows(_ a: Tensor, _ count: Int) -> Tensor {
        let n = a.shape[1]
        return Tensor(shape: [count, n], scalars: Array(a.scalars.prefix(count * n)))
    }

    /// `a · diag(d)`.
    static func scaleColumns(_ a: Tensor, _ d: [Float]) -> Tensor {
        var out = a
        let n = a.shape[1]
        for i in 0..<a.shape[0] {
            for j in 0..<n { out.scalars[i * n + j] *= d[j] }
        }
        return out
    }

    /// `diag(d) · a`.
    static func scaleRows(_ a: Tensor, _ d: [Float]) -> Tensor {
        var out = a
        let n = a.shape[1]
        for i in 0..<a.shape[0] {
            for j in 0..<n { out.scalars[i * n + j] *= d[i] }
        }
        return out
    }

    /// Σ aᵢbᵢ accumulated in Double.
    static func dot(_ a: Tensor, _ b: Tensor) -> Double {
        var acc = 0.0
        for i in a.scalars.indices { acc += Double(a.scalars[i]) * Double(b.scalars[i]) }
        return acc
    }

    /// `a − b` element-wise.
    static func difference(_ a: Tensor, _ b: Tensor) -> Tensor {
        var out = a
        for i in out.scalars.indices { out.scalars[i] -= b.scalars[i] }
        return out
    }

    /// ‖a − b‖_F / ‖a‖_F (0 when a is zero).
    static func relativeError(_ a: Tensor, _ b: Tensor) -> Double {
        var num = 0.0, den = 0.0
        for i in a.scalars.indices {
            let d = Double(a.scalars[i]) - Double(b.scalars[i])
            num += d * d
            den += Double(a.scalars[i]) * Double(a.scalars[i])
        }
        return den > 0 ? (num / den).squareRoot() : 0
    }

    /// `a + shift·I` for a square matrix.
    static func shiftedDiagonal(_ a: Tensor, by shift: Float) -> Tensor {
        var out = a
        let n = a.shape[0]
        for i in 0..<n { out.scalars[i * n + i] += shift }
        return out
    }

    /// Mean of the diagonal of a square matrix.
    static func meanDiagonal(_ a: Tensor) -> Float {
        let n = a.shape[0]
        guard n > 0 else { return 0 }
        var acc = 0.0
        for i in 0..<n { acc += Double(a.scalars[i * n + i]) }
        return Float(acc / Double(n))
    }

    /// Symmetric square root split of singular values: returns √s.
    static func sqrtValues(_ s: [Float]) -> [Float] { s.map { $0.squareRoot() } }
}
