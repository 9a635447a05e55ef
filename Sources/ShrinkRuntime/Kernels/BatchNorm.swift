import ShrinkTensor

extension Kernels {
    /// Per-channel scale and shift equivalent to inference `BatchNormalization`:
    /// y = x·a + b with a = scale/√(var+ε), b = bias − mean·a.
    public static func batchNormCoefficients(scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor,
                                             epsilon: Float) throws -> (a: [Float], b: [Float]) {
        let c = scale.count
        guard bias.count == c, mean.count == c, variance.count == c else {
            throw KernelError("BatchNormalization parameters have \([scale.count, bias.count, mean.count, variance.count]) elements; they must agree")
        }
        var a = [Float](repeating: 0, count: c), b = [Float](repeating: 0, count: c)
        for i in 0..<c {
            a[i] = scale.scalars[i] / (variance.scalars[i] + epsilon).squareRoot()
            b[i] = bias.scalars[i] - mean.scalars[i] * a[i]
        }
        return (a, b)
    }

    /// Inference `BatchNormalization` over [N, C, …].
    public static func batchNorm(_ x: Tensor, scale: Tensor, bias: Tensor, mean: Tensor, variance: Tensor,
                                 epsilon: Float) throws -> Tensor {
        guard x.rank >= 2 else { throw KernelError("BatchNormalization needs [N, C, …], got \(x.shape)") }
        let (a, b) = try batchNormCoefficients(scale: scale, bias: bias, mean: mean, variance: variance, epsilon: epsilon)
        var out = x
        try scaleShiftChannels(&out, a, b)
        return out
    }

    /// x·a[c] + b[c] per channel of [N, C, …].
    static func scaleShiftChannels(_ out: inout Tensor, _ a: [Float], _ b: [Float]) throws {
        guard out.rank >= 2 else { throw KernelError("BatchNormalization needs [N, C, …], got \(out.shape)") }
        let n = out.shape[0], c = out.shape[1]
        guard a.count == c else { throw KernelError("BatchNormalization has \(a.count) channels, input \(out.shape) has \(c)") }
        let plane = out.count / Swift.max(n * c, 1)
        out.scalars.withUnsafeMutableBufferPointer { o in
            guard let p = o.baseAddress else { return }
            for i in 0..<n {
                for ch in 0..<c {
                    let q = p + (i * c + ch) * plane
                    let s = a[ch], t = b[ch]
                    for j in 0..<plane { q[j] = q[j] * s + t }
                }
            }
        }
    }
}
