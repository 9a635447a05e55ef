import Foundation
import Testing
@testable import ShrinkTensor

/// Naive triple loop, the reference for the BLAS wrappers.
private func naiveMatmul(_ a: Tensor, _ b: Tensor) -> Tensor {
    let (m, k, n) = (a.shape[0], a.shape[1], b.shape[1])
    var c = Tensor(zeros: [m, n])
    for i in 0..<m {
        for j in 0..<n {
            var s = 0.0
            for p in 0..<k { s += Double(a.scalars[i * k + p]) * Double(b.scalars[p * n + j]) }
            c.scalars[i * n + j] = Float(s)
        }
    }
    return c
}

@Suite struct BLASTests {
    @Test(arguments: [(false, false), (true, false), (false, true), (true, true)])
    func gemmTransposeFlags(transposeA: Bool, transposeB: Bool) throws {
        let a = TestData.matrix(7, 5, seed: 1), b = TestData.matrix(5, 6, seed: 2)
        let aIn = transposeA ? a.transposed() : a
        let bIn = transposeB ? b.transposed() : b
        let c = try aIn.matmul(bIn, transposeSelf: transposeA, transposeOther: transposeB)
        #expect(c.shape == [7, 6])
        #expect(TestData.maxAbsDiff(c, naiveMatmul(a, b)) < 1e-5)
    }

    @Test func gemmAlphaBetaAccumulates() throws {
        let a = TestData.matrix(4, 3, seed: 3), b = TestData.matrix(3, 2, seed: 4)
        var c = TestData.matrix(4, 2, seed: 5)
        let c0 = c
        try BLAS.gemm(a, b, alpha: 2, beta: -1, into: &c)
        let ab = naiveMatmul(a, b)
        for i in c.scalars.indices { #expect(abs(c.scalars[i] - (2 * ab.scalars[i] - c0.scalars[i])) < 1e-5) }
    }

    @Test func matvecBothWays() throws {
        let a = TestData.matrix(6, 4, seed: 6)
        let x = TestData.tensor([4], seed: 7), z = TestData.tensor([6], seed: 8)
        let y = try a.matvec(x)
        #expect(TestData.maxAbsDiff(y, naiveMatmul(a, x.reshaped([4, 1])).reshaped([6])) < 1e-5)
        let w = try a.matvec(z, transposeSelf: true)
        #expect(TestData.maxAbsDiff(w, naiveMatmul(a.transposed(), z.reshaped([6, 1])).reshaped([4])) < 1e-5)
    }

    @Test func shapeMismatchThrows() {
        let a = TestData.matrix(3, 4, seed: 1), b = TestData.matrix(3, 4, seed: 2)
        #expect(throws: LinearAlgebraError.self) { try a.matmul(b) }
        #expect(throws: LinearAlgebraError.self) { try a.matvec(TestData.tensor([3], seed: 0)) }
        do throws(LinearAlgebraError) {
            _ = try a.matmul(b)
        } catch {
            #expect(error.kind == .shapeMismatch)
        }
    }
}

@Suite struct SVDTests {
    static let reference = Result { try LinalgFixtures.archive("svd_reference.npz") }
    static let dense = Result { try LinalgFixtures.tensor("dense_500x800.npy") }

    @Test(arguments: [SVDLayout.transposedView, .rowMajorLAPACKE])
    func singularValuesMatchNumpy(layout: SVDLayout) throws {
        let w = try Self.dense.get()
        let ref = try Self.reference.get().doubles("singular_values")
        let svd = try w.svd(layout: layout)
        #expect(svd.u.shape == [500, 500] && svd.vt.shape == [500, 800] && svd.s.count == 500)
        // numpy's reference is float64 (numpy runs even float32 input through dgesdd). A Float
        // SVD is backward stable: each s_i is off by at most a few ε·s_1 (≈4e-7 here), which is
        // 1.7e-5 relative on the smallest value (2.4e-4). So: 1e-5 relative, or 2e-6·s_1.
        let s1 = ref[0]
        for (mine, theirs) in zip(svd.s, ref) {
            #expect(abs(Double(mine) - theirs) <= Swift.max(1e-5 * theirs, 2e-6 * s1), "\(mine) vs \(theirs)")
        }
        let leading = zip(svd.s, ref).prefix(300).map { abs(Double($0) - $1) / $1 }.max() ?? 1
        #expect(leading < 1e-5, "worst relative error among the leading 300: \(leading)")
        #expect(zip(svd.s, svd.s.dropFirst()).allSatisfy { $0 >= $1 })
        // Orthonormal singular vectors.
        let utu = try svd.u.matmul(svd.u, transposeSelf: true)
        #expect(TestData.maxAbsDiff(utu, .identity(500)) < 1e-4)
        let vvt = try svd.vt.matmul(svd.vt, transposeOther: true)
        #expect(TestData.maxAbsDiff(vvt, .identity(500)) < 1e-4)
    }

    @Test func singularValuesOnlyAgreesWithFullSVD() throws {
        let w = try Self.dense.get()
        let full = try w.svd().s
        let only = try w.singularValues()
        // jobz N takes a different LAPACK path (no vectors): agreement to a few ε·s_1.
        #expect(zip(full, only).allSatisfy { abs($0 - $1) <= 1e-5 * full[0] })
    }

    /// Truncation errors at ranks 1…400 from the singular values, against numpy in float64.
    @Test(arguments: 0..<7)
    func truncationErrorMatchesNumpy(index: Int) throws {
        let ref = try Self.reference.get()
        let rank = Int(try ref.doubles("ranks")[index])
        let expected = try ref.doubles("rel_errors")[index]
        let svd = try Self.dense.get().svd()
        let t = try svd.truncated(rank: rank)
        #expect(t.u.shape == [500, rank] && t.vt.shape == [rank, 800])
        #expect(abs(t.relativeError - expected) / expected < 1e-5,
                "rank \(rank): \(t.relativeError) vs numpy \(expected)")
    }

    /// The explicit reconstruction agrees with the error predicted from singular values.
    @Test(arguments: [5, 50, 200])
    func explicitReconstruction(rank: Int) throws {
        let w = try Self.dense.get()
        let t = try TruncatedSVD(matrix: w, rank: rank)
        let explicit = TestData.relDiff(t.reconstructed(), w)
        #expect(abs(explicit - t.relativeError) / t.relativeError < 1e-3)
        let (a, b) = t.factorPair()
        #expect(a.shape == [500, rank] && b.shape == [rank, 800])
        #expect(TestData.maxAbsDiff(try a.matmul(b), t.reconstructed()) < 1e-6)
    }

    @Test func smallMatrixMatchesNumpyUpToSign() throws {
        let a = try LinalgFixtures.tensor("small_7x5.npy")
        let ref = try LinalgFixtures.archive("small_7x5_svd.npz")
        let (u, s, vt) = (try ref.tensor("U"), try ref.doubles("S"), try ref.tensor("Vt"))
        let svd = try a.svd()
        #expect(zip(svd.s, s).allSatisfy { abs(Double($0) - $1) < 1e-5 * $1 })
        for j in 0..<5 {
            // Singular vectors are unique up to a joint sign flip of (u_j, v_j).
            var dot = 0.0
            for i in 0..<7 { dot += Double(svd.u[i, j]) * Double(u[i, j]) }
            let sign: Float = dot < 0 ? -1 : 1
            for i in 0..<7 { #expect(abs(svd.u[i, j] - sign * u[i, j]) < 1e-5) }
            for i in 0..<5 { #expect(abs(svd.vt[j, i] - sign * vt[j, i]) < 1e-5) }
        }
        // The flipped form is deterministic: largest |u| entry of each column is positive.
        let f = svd.signFlipped()
        for j in 0..<5 {
            let col = (0..<7).map { f.u[$0, j] }
            #expect(col.max(by: { abs($0) < abs($1) })! > 0)
        }
        #expect(TestData.relDiff(try TruncatedSVD(f, rank: 5).reconstructed(), a) < 1e-6)
    }

    @Test(arguments: [[6, 3], [3, 6], [1, 4], [4, 1], [0, 3]])
    func svdShapes(shape: [Int]) throws {
        let a = TestData.tensor(shape, seed: 9)
        let svd = try a.svd()
        let k = shape.min()!
        #expect(svd.u.shape == [shape[0], k] && svd.s.count == k && svd.vt.shape == [k, shape[1]])
        if k > 0 { #expect(TestData.relDiff(try TruncatedSVD(svd, rank: k).reconstructed(), a) < 1e-6) }
    }

    @Test func energyRank() throws {
        let s: [Float] = [3, 2, 1, 0]  // energies 9, 4, 1 of 14
        #expect(TruncatedSVD.rank(forEnergy: 0.5, singularValues: s) == 1)
        #expect(TruncatedSVD.rank(forEnergy: 9.0 / 14, singularValues: s) == 1)
        #expect(TruncatedSVD.rank(forEnergy: 0.65, singularValues: s) == 2)
        #expect(TruncatedSVD.rank(forEnergy: 0.95, singularValues: s) == 3)
        #expect(TruncatedSVD.rank(forEnergy: 1.0, singularValues: s) == 3)
        #expect(TruncatedSVD.rank(forEnergy: 0, singularValues: s) == 0)
        #expect(TruncatedSVD.rank(forEnergy: 0.9, singularValues: [0, 0]) == 0)
        // Consistent with the error: keeping `fraction` of the energy means error ≤ sqrt(1 − fraction).
        let svd = try Self.dense.get().svd()
        let r = svd.rank(forEnergy: 0.95)
        #expect(try svd.truncated(rank: r).relativeError <= (0.05).squareRoot() + 1e-9)
        #expect(try svd.truncated(rank: r - 1).relativeError > (0.05).squareRoot())
    }

    @Test func badTruncationRankThrows() throws {
        let svd = try TestData.matrix(4, 3, seed: 1).svd()
        #expect(throws: LinearAlgebraError.self) { try svd.truncated(rank: 4) }
        #expect(throws: LinearAlgebraError.self) { try TestData.tensor([2, 2, 2], seed: 1).svd() }
    }
}

@Suite struct FactorizationTests {
    @Test(arguments: [[8, 5], [5, 8], [6, 6], [1, 3]])
    func qrIsOrthonormalUpperAndReconstructs(shape: [Int]) throws {
        let a = TestData.tensor(shape, seed: 11)
        let qr = try a.qr()
        let k = shape.min()!
        #expect(qr.q.shape == [shape[0], k] && qr.r.shape == [k, shape[1]])
        #expect(TestData.maxAbsDiff(try qr.q.matmul(qr.q, transposeSelf: true), .identity(k)) < 1e-5)
        for i in 0..<k { for j in 0..<min(i, shape[1]) { #expect(qr.r[i, j] == 0) } }
        #expect(TestData.maxAbsDiff(try qr.q.matmul(qr.r), a) < 1e-5)
    }

    @Test(arguments: [1, 4, 17])
    func symmetricEigenReconstructs(n: Int) throws {
        let b = TestData.matrix(n, n, seed: 12)
        let a = try b.matmul(b, transposeOther: true)  // symmetric
        let e = try a.symmetricEigen()
        #expect(zip(e.values, e.values.dropFirst()).allSatisfy { $0 <= $1 })
        #expect(TestData.maxAbsDiff(try e.vectors.matmul(e.vectors, transposeSelf: true), .identity(n)) < 1e-5)
        // A·V = V·Λ
        let av = try a.matmul(e.vectors)
        var vl = e.vectors
        for i in 0..<n { for j in 0..<n { vl.scalars[i * n + j] *= e.values[j] } }
        #expect(TestData.maxAbsDiff(av, vl) < 1e-4)
        let d = e.descending()
        #expect(d.values == e.values.reversed())
        var recon = d.vectors
        for i in 0..<n { for j in 0..<n { recon.scalars[i * n + j] *= d.values[j] } }
        #expect(TestData.maxAbsDiff(try recon.matmul(d.vectors, transposeOther: true), a) < 1e-4)
    }

    /// An SPD matrix BᵀB + n·I.
    static func spd(_ n: Int, seed: UInt64) throws -> Tensor {
        let b = TestData.matrix(n, n, seed: seed)
        var a = try b.matmul(b, transposeSelf: true)
        for i in 0..<n { a.scalars[i * n + i] += Float(n) }
        return a
    }

    @Test(arguments: [1, 3])
    func choleskySolveSolves(rhsColumns: Int) throws {
        let a = try Self.spd(9, seed: 13)
        let l = try a.cholesky()
        for i in 0..<9 { for j in (i + 1)..<9 { #expect(l[i, j] == 0) } }
        #expect(TestData.maxAbsDiff(try l.matmul(l, transposeOther: true), a) < 1e-4)
        let x = TestData.matrix(9, rhsColumns, seed: 14)
        let b = try a.matmul(x)
        #expect(TestData.relDiff(try l.choleskySolve(factor: b), x) < 1e-5)
        #expect(TestData.relDiff(try a.solvePositiveDefinite(b), x) < 1e-5)
        let v = b.reshaped([9 * rhsColumns]).scalars.prefix(9)
        let bv = Tensor(shape: [9], scalars: Array(v))
        let xv = try a.solvePositiveDefinite(bv)
        #expect(TestData.relDiff(try a.matvec(xv), bv) < 1e-5)
    }

    @Test func choleskyOfNonPositiveDefiniteThrows() {
        let a = Tensor(rows: [[1, 2], [2, 1]])  // eigenvalues 3, -1
        do throws(LinearAlgebraError) {
            _ = try a.cholesky()
            Issue.record("expected spotrf to fail")
        } catch {
            #expect(error.routine == "spotrf")
            #expect(error.kind == .singular)
            #expect(error.info == 2)
            #expect(error.description.contains("not positive definite"))
        }
        #expect(throws: LinearAlgebraError.self) { try Tensor(rows: [[1, 2, 3]]).cholesky() }
    }

    @Test func generalSolveAndSingularError() throws {
        let a = TestData.matrix(6, 6, seed: 15), x = TestData.matrix(6, 2, seed: 16)
        #expect(TestData.relDiff(try a.solve(try a.matmul(x)), x) < 1e-4)
        let singular = Tensor(rows: [[1, 2], [2, 4]])
        #expect { try singular.solve(Tensor(rows: [[1], [1]])) } throws: { error in
            (error as? LinearAlgebraError).map { $0.routine == "sgesv" && $0.kind == .singular } ?? false
        }
        #expect(throws: LinearAlgebraError.self) { try a.solve(TestData.matrix(5, 1, seed: 0)) }
    }

    @Test func leastSquaresMatchesNormalEquations() throws {
        let a = TestData.matrix(12, 4, seed: 17), b = TestData.matrix(12, 2, seed: 18)
        let x = try a.leastSquares(b)
        #expect(x.shape == [4, 2])
        let ata = try a.matmul(a, transposeSelf: true), atb = try a.matmul(b, transposeSelf: true)
        #expect(TestData.relDiff(x, try ata.solvePositiveDefinite(atb)) < 1e-4)
        // Underdetermined: minimum-norm solution solves exactly.
        let wide = TestData.matrix(3, 7, seed: 19), rhs = TestData.tensor([3], seed: 20)
        let xm = try wide.leastSquares(rhs)
        #expect(xm.shape == [7])
        #expect(TestData.relDiff(try wide.matvec(xm), rhs) < 1e-5)
    }

    @Test func pseudoInverseOfRankDeficientPSD() throws {
        let b = TestData.matrix(5, 2, seed: 21)
        let a = try b.matmul(b, transposeOther: true)  // 5×5, rank 2
        #expect(throws: LinearAlgebraError.self) { try a.cholesky() }
        let p = try a.pseudoInverseSymmetricPSD()
        #expect(TestData.maxAbsDiff(try a.matmul(p).matmul(a), a) < 1e-4)
        #expect(TestData.maxAbsDiff(try p.matmul(a).matmul(p), p) < 1e-3 * max(1, p.frobeniusNorm))
        // The PSD solve falls back to it: a consistent right-hand side is solved.
        let rhs = try a.matmul(TestData.matrix(5, 1, seed: 22))
        #expect(TestData.relDiff(try a.matmul(try a.solveSymmetricPSD(rhs)), rhs) < 1e-4)
        // And takes the Cholesky path on a PD matrix.
        let spd = try Self.spd(4, seed: 23), x = TestData.matrix(4, 3, seed: 24)
        #expect(TestData.relDiff(try spd.solveSymmetricPSD(try spd.matmul(x)), x) < 1e-5)
    }
}
