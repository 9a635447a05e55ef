import ShrinkTensor

// Per-sample normalisations over spatial positions: what PyTorch exports for InstanceNorm and
// GroupNorm (style transfer, U-Nets, diffusion-style blocks).

extension Kernels {
    /// `InstanceNormalization`: each (sample, channel) plane of x [N, C, …] normalised to zero
    /// mean and unit variance, then `scale[c]·x̂ + bias[c]`.
    public static func instanceNorm(_ x: Tensor, scale: Tensor, bias: Tensor, epsilon: Float) throws -> Tensor {
        let c = x.shape.count >= 2 ? x.shape[1] : 0
        guard x.shape.count >= 3, scale.count == c, bias.count == c else {
            throw KernelError("InstanceNormalization needs x [N, C, …] with scale and B of C values, got \(x.shape), \(scale.shape), \(bias.shape)")
        }
        return groupNorm(x, groups: c, scale: scale.scalars, bias: bias.scalars, perChannel: true, epsilon: epsilon)
    }

    /// `GroupNormalization`: the channels of x [N, C, …] in `groups` consecutive groups, each
    /// (sample, group) normalised together; scale and bias per channel (opset 21) or per group
    /// (opset 18).
    public static func groupNorm(_ x: Tensor, groups: Int, scale: Tensor, bias: Tensor, epsilon: Float) throws -> Tensor {
        let c = x.shape.count >= 2 ? x.shape[1] : 0
        guard x.shape.count >= 2, groups > 0, c % groups == 0 else {
            throw KernelError("GroupNormalization needs x [N, C, …] with C divisible by num_groups \(groups), got \(x.shape)")
        }
        guard scale.count == bias.count, scale.count == c || scale.count == groups else {
            throw KernelError("GroupNormalization scale and bias must hold C (\(c)) or num_groups (\(groups)) values, got \(scale.count) and \(bias.count)")
        }
        return groupNorm(x, groups: groups, scale: scale.scalars, bias: bias.scalars, perChannel: scale.count == c, epsilon: epsilon)
    }

    private static func groupNorm(_ x: Tensor, groups: Int, scale: [Float], bias: [Float], perChannel: Bool, epsilon: Float) -> Tensor {
        let n = x.shape[0], c = x.shape[1]
        let plane = product(x.shape.dropFirst(2))
        let perGroup = c / groups
        var out = x.scalars
        x.scalars.withUnsafeBufferPointer { src in
            for s in 0..<n {
                for g in 0..<groups {
                    let start = (s * c + g * perGroup) * plane, count = perGroup * plane
                    guard count > 0 else { continue }
                    // Two passes in Double: the variance of large planes keeps its precision.
                    var sum = 0.0
                    for i in start..<(start + count) { sum += Double(src[i]) }
                    let mean = sum / Double(count)
                    var sq = 0.0
                    for i in start..<(start + count) { let d = Double(src[i]) - mean; sq += d * d }
                    let inv = 1 / (sq / Double(count) + Double(epsilon)).squareRoot()
                    for k in 0..<perGroup {
                        let ch = g * perGroup + k
                        let a = Double(perChannel ? scale[ch] : scale[g]), b = Double(perChannel ? bias[ch] : bias[g])
                        let base = start + k * plane
                        for i in base..<(base + plane) { out[i] = Float((Double(src[i]) - mean) * inv * a + b) }
                    }
                }
            }
        }
        return Tensor(shape: x.shape, scalars: out)
    }
}
