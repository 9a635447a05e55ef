import Testing
@testable import ShrinkTensor

@Suite struct TensorLayoutTests {
    @Test func permuteMatchesIndexFormula() {
        let t = Tensor(shape: [2, 3, 4], scalars: (0..<24).map(Float.init))
        let p = t.permuted([2, 0, 1])
        #expect(p.shape == [4, 2, 3])
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { #expect(p[k, i, j] == t[i, j, k]) } } }
    }

    @Test(arguments: [0, 1, 2, 3])
    func unfoldFoldRoundTrip(mode: Int) {
        let t = Tensor(shape: [3, 4, 2, 5], scalars: (0..<120).map { Float($0) * 0.5 })
        let m = t.unfolded(mode: mode)
        #expect(m.shape == [t.shape[mode], 120 / t.shape[mode]])
        #expect(Tensor.folded(m, mode: mode, shape: t.shape) == t)
    }

    @Test func unfoldFollowsTensorlyConvention() {
        // tensorly: unfold(X, 1)[j, i*K + k] == X[i, j, k]
        let t = Tensor(shape: [2, 3, 4], scalars: (0..<24).map(Float.init))
        let m = t.unfolded(mode: 1)
        for i in 0..<2 { for j in 0..<3 { for k in 0..<4 { #expect(m[j, i * 4 + k] == t[i, j, k]) } } }
    }

    @Test func reshapeInfersMinusOne() {
        let t = Tensor(zeros: [4, 6]).reshaped([2, -1, 3])
        #expect(t.shape == [2, 4, 3])
    }

    @Test func frobeniusNorm() {
        #expect(Tensor(rows: [[3, 0], [0, 4]]).frobeniusNorm == 5)
    }
}
