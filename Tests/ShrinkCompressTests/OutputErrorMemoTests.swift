import ShrinkCompress
import ShrinkTensor
import Testing

/// The output-error measurement memoises tr(W G Wᵀ) by content: a hit must give what a fresh
/// computation gives, and a different weight of the same shape must never hit.
@Suite struct OutputErrorMemoTests {
    func matrix(_ rows: Int, _ cols: Int, seed: Int) -> Tensor {
        var state = UInt64(seed) &* 6364136223846793005 &+ 1442695040888963407
        let values = (0..<(rows * cols)).map { _ -> Float in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Float(Int64(bitPattern: state >> 11) % 2001 - 1000) / 1000
        }
        return Tensor(shape: [rows, cols], scalars: values)
    }

    /// ‖(W − Ŵ)X‖ / ‖WX‖ computed directly from the activations, in Double.
    func direct(_ w: Tensor, _ a: Tensor, _ x: Tensor) -> Double {
        let (m, p, n) = (w.shape[0], w.shape[1], x.shape[0])
        var num = 0.0, den = 0.0
        for s in 0..<n {
            for i in 0..<m {
                var full = 0.0, diff = 0.0
                for k in 0..<p {
                    let xv = Double(x.scalars[s * p + k])
                    full += Double(w.scalars[i * p + k]) * xv
                    diff += Double(w.scalars[i * p + k] - a.scalars[i * p + k]) * xv
                }
                num += diff * diff
                den += full * full
            }
        }
        return (num / den).squareRoot()
    }

    @Test func repeatedAndChangedWeightsGiveFreshAnswers() throws {
        let x = matrix(40, 12, seed: 1)
        var stats = ActivationStatistics(dimension: 12)
        try stats.add(rows: x)
        let approximation = matrix(6, 12, seed: 9)
        for seed in [2, 3, 2] {  // the third call repeats the first: a hit
            let w = matrix(6, 12, seed: seed)
            let measured = try stats.relativeOutputError(weight: w, approximation: approximation, layer: "t")
            #expect(abs(measured - direct(w, approximation, x)) <= 1e-5 * direct(w, approximation, x))
        }
    }
}
