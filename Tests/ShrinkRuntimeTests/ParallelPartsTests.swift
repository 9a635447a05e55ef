import Dispatch
import Foundation
import ShrinkTensor
import Synchronization
import Testing
@testable import ShrinkRuntime

/// The kernel pool (`parallelParts` over `shrink_pool_run`): every part runs exactly once, whoever
/// calls it and however the calls nest or overlap.
@Suite struct ParallelPartsTests {
    @Test(arguments: [2, 3, 7, 64])
    func everyPartRunsOnceInEveryJob(_ parts: Int) {
        // Many short jobs back to back, so workers are caught spinning, sleeping and waking late.
        for job in 0..<2_000 {
            let counts = UnsafeMutablePointer<Int>.allocate(capacity: parts)
            counts.initialize(repeating: 0, count: parts)
            defer { counts.deallocate() }
            parallelParts(parts) { p in counts[p] += 1 }
            let runs = (0..<parts).map { counts[$0] }
            #expect(runs.allSatisfy { $0 == 1 }, "job \(job): runs per part \(runs)")
            if job % 500 == 499 { usleep(1_000) }  // past the spin: the workers sleep, then wake
        }
    }

    @Test func aPartThatSplitsAgainRunsItsPartsItself() {
        let total = Atomic<Int>(0)
        parallelParts(2) { _ in
            parallelParts(5) { _ in total.add(1, ordering: .relaxed) }
        }
        #expect(total.load(ordering: .relaxed) == 10)
    }

    @Test func overlappingCallersEachGetEveryPart() {
        // Four threads share one pool: one of them holds it at a time and the others run their
        // parts themselves, so every caller's parts all run, exactly once.
        let failures = Atomic<Int>(0)
        DispatchQueue.concurrentPerform(iterations: 4) { caller in
            for _ in 0..<500 {
                let counts = UnsafeMutablePointer<Int>.allocate(capacity: 3)
                counts.initialize(repeating: 0, count: 3)
                parallelParts(3) { p in counts[p] += caller + 1 }
                if (0..<3).contains(where: { counts[$0] != caller + 1 }) { failures.add(1, ordering: .relaxed) }
                counts.deallocate()
            }
        }
        #expect(failures.load(ordering: .relaxed) == 0)
    }
}

/// Products split over the pool (`Kernels.sgemm` by columns or rows, GEMV for one row) against the
/// definition in double precision, at 1 and 2 threads: max|Δ| ≤ 1e-4 · max(1, max|ref|).
@Suite struct SplitProductTests {
    struct Shape: Sendable, CustomStringConvertible {
        var m: Int, n: Int, k: Int, transA: Bool, transB: Bool
        var description: String { "\(m)×\(n)×\(k)\(transA ? " Aᵀ" : "")\(transB ? " Bᵀ" : "")" }
    }

    static let shapes: [Shape] = [
        Shape(m: 1, n: 500, k: 800, transA: false, transB: true),     // a Linear layer at batch 1 (GEMV, split)
        Shape(m: 1, n: 333, k: 257, transA: false, transB: false),    // GEMV on B as stored, odd columns
        Shape(m: 1, n: 301, k: 300, transA: true, transB: false),     // A stored as a column
        Shape(m: 7, n: 1_000, k: 129, transA: false, transB: true),   // wide: split by columns, a ragged last block
        Shape(m: 197, n: 32, k: 257, transA: false, transB: false),   // tall and thin: split by rows
        Shape(m: 150, n: 40, k: 70, transA: true, transB: true),      // rows of a transposed A
        Shape(m: 3, n: 5, k: 4, transA: false, transB: false),        // too small to split
    ]

    @Test(arguments: shapes)
    func splitProductsMatchTheDefinition(_ s: Shape) throws {
        let a = pseudoRandom(s.transA ? [s.k, s.m] : [s.m, s.k], seed: 21)
        let b = pseudoRandom(s.transB ? [s.n, s.k] : [s.k, s.n], seed: 22)
        let c = pseudoRandom([s.n], seed: 23)
        var ref = [Double](repeating: 0, count: s.m * s.n)
        for i in 0..<s.m {
            for j in 0..<s.n {
                var acc = 0.0
                for kk in 0..<s.k {
                    let av = s.transA ? a.scalars[kk * s.m + i] : a.scalars[i * s.k + kk]
                    let bv = s.transB ? b.scalars[j * s.k + kk] : b.scalars[kk * s.n + j]
                    acc += Double(av) * Double(bv)
                }
                ref[i * s.n + j] = 1.5 * acc + 0.5 * Double(c.scalars[j])
            }
        }
        let scale = max(1, ref.map { abs($0) }.max() ?? 0)
        for threads in [1, 2] {
            let y = try Kernels.gemm(a, b, c, GemmAttributes(alpha: 1.5, beta: 0.5, transA: s.transA, transB: s.transB),
                                     threads: threads)
            #expect(y.shape == [s.m, s.n])
            let worst = zip(y.scalars, ref).map { abs(Double($0) - $1) }.max() ?? .infinity
            #expect(worst <= 1e-4 * scale, "\(s), \(threads) threads: max|Δ| \(worst)")
        }
        // MatMul takes the same split (no transposes there).
        if !s.transA && !s.transB {
            let one = try Kernels.matmul(a, b, threads: 1), two = try Kernels.matmul(a, b, threads: 2)
            let worst = zip(one.scalars, two.scalars).map { abs($0 - $1) }.max() ?? .infinity
            #expect(Double(worst) <= 1e-4 * scale, "MatMul \(s): 1 vs 2 threads max|Δ| \(worst)")
        }
    }
}

/// Elementwise operators split over the pool (same shape, a scalar, a per-channel operand, and
/// activations) against plain loops, at 1 and 2 threads, on sizes above and below the split.
@Suite struct SplitElementwiseTests {
    static let shapes: [[Int]] = [[1, 96, 24, 40], [2, 3, 5, 7], [1, 37, 1001]]

    @Test(arguments: shapes, [BinaryOp.add, .sub, .mul, .div, .max])
    func binaryMatchesPlainLoops(_ shape: [Int], _ op: BinaryOp) throws {
        let a = pseudoRandom(shape, seed: 31)
        let channels = [1, shape[1]] + [Int](repeating: 1, count: shape.count - 2)
        let operands = [pseudoRandom(shape, seed: 32), Tensor(shape: [1], scalars: [0.75]), pseudoRandom(channels, seed: 33)]
        for b in operands {
            let inner = a.count / (shape[0] * shape[1])
            let want: [Float] = a.scalars.indices.map { i in
                let bv = b.count == a.count ? b.scalars[i] : b.count == 1 ? b.scalars[0] : b.scalars[(i / inner) % shape[1]]
                return op.apply(a.scalars[i], bv == 0 ? 1 : bv)
            }
            let safeB = Tensor(shape: b.shape, scalars: b.scalars.map { $0 == 0 ? 1 : $0 })
            for threads in [1, 2] {
                var got = a
                try Kernels.binary(op, into: &got, safeB, threads: threads)
                #expect(got.shape == a.shape)
                let worst = zip(got.scalars, want).map { abs($0 - $1) / max(1, abs($1)) }.max() ?? .infinity
                #expect(worst <= 1e-6, "\(op) \(shape) by \(b.shape), \(threads) threads: \(worst)")
            }
        }
    }

    @Test(arguments: [Activation.hardSwish, .sigmoid, .swish(beta: 1), .leakyRelu(alpha: 0.1)])
    func activationsMatchOneThread(_ act: Activation) {
        let x = pseudoRandom([1, 64, 30, 40], seed: 34)
        var one = x, two = x
        act.apply(inPlace: &one, threads: 1)
        act.apply(inPlace: &two, threads: 2)
        let worst = zip(one.scalars, two.scalars).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-6, "\(act): \(worst)")
        #expect(one.scalars != x.scalars)
    }
}

/// ConvTranspose with its output channels split over the pool equals the one-thread result
/// (both also checked against onnxruntime's op fixtures at one thread in `OpFixtureTests`).
@Suite struct SplitConvTransposeTests {
    @Test(arguments: [(group: 1, pads: [0, 0, 0, 0]), (group: 2, pads: [1, 0, 0, 1]), (group: 1, pads: [1, 1, 1, 1])])
    func outputChannelPartsMatchOneThread(_ c: (group: Int, pads: [Int])) throws {
        let x = pseudoRandom([2, 24, 12, 20], seed: 61), w = pseudoRandom([24, 24 / c.group, 3, 3], seed: 62)
        let b = pseudoRandom([24], seed: 63)
        let a = ConvTransposeAttributes(strides: [2, 2], pads: c.pads, outputPadding: [1, 0], group: c.group)
        let one = try Kernels.convTranspose(x, weight: w, bias: b, a, threads: 1)
        let two = try Kernels.convTranspose(x, weight: w, bias: b, a, threads: 2)
        #expect(one.shape == two.shape)
        let scale = max(1, one.scalars.map { abs($0) }.max() ?? 0)
        let worst = zip(one.scalars, two.scalars).map { abs($0 - $1) }.max() ?? .infinity
        #expect(worst <= 1e-5 * scale, "group \(c.group) pads \(c.pads): \(worst)")
    }
}

/// Upsampling ConvTranspose whose kernel is its stride (each output written by one tap, stored
/// once) against the definition, at 1 and 2 threads.
@Suite struct TiledConvTransposeTests {
    /// ConvTranspose from its definition (unpadded, no dilation): every input element spreads
    /// its kernel over the output, accumulated in Double.
    static func naive(_ x: Tensor, _ w: Tensor, _ b: Tensor?, strides: [Int], group: Int) -> Tensor {
        let (n, c, ih, iw) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let (mg, kh, kw) = (w.shape[1], w.shape[2], w.shape[3]), cg = c / group, m = mg * group
        let oh = (ih - 1) * strides[0] + kh, ow = (iw - 1) * strides[1] + kw
        var y = [Double](repeating: 0, count: n * m * oh * ow)
        for b0 in 0..<n { for ci in 0..<c { for iy in 0..<ih { for ix in 0..<iw {
            let v = Double(x.scalars[((b0 * c + ci) * ih + iy) * iw + ix]), g = ci / cg
            for oc in 0..<mg { for ky in 0..<kh { for kx in 0..<kw {
                let o = g * mg + oc, yy = iy * strides[0] + ky, xx = ix * strides[1] + kx
                y[((b0 * m + o) * oh + yy) * ow + xx] += v * Double(w.scalars[((ci * mg + oc) * kh + ky) * kw + kx])
            } } }
        } } } }
        if let b { for i in y.indices { y[i] += Double(b.scalars[i / (oh * ow) % m]) } }
        return Tensor(shape: [n, m, oh, ow], scalars: y.map(Float.init))
    }

    @Test(arguments: [(x: [1, 16, 7, 9], k: [2, 2], group: 1, bias: true), (x: [2, 8, 5, 6], k: [2, 3], group: 2, bias: false),
                      (x: [1, 40, 12, 20], k: [2, 2], group: 1, bias: true)])
    func tilesMatchTheDefinition(_ c: (x: [Int], k: [Int], group: Int, bias: Bool)) throws {
        let x = pseudoRandom(c.x, seed: 71), w = pseudoRandom([c.x[1], 12 / c.group] + c.k, seed: 72)
        let b = c.bias ? pseudoRandom([12], seed: 73) : nil
        let ref = Self.naive(x, w, b, strides: c.k, group: c.group)
        for threads in [1, 2] {
            let got = try Kernels.convTranspose(x, weight: w, bias: b, ConvTransposeAttributes(strides: c.k, group: c.group),
                                                threads: threads)
            #expect(got.shape == ref.shape)
            let scale = max(1, ref.scalars.map { abs($0) }.max() ?? 0)
            let worst = zip(got.scalars, ref.scalars).map { abs($0 - $1) }.max() ?? .infinity
            #expect(worst <= 1e-4 * scale, "\(c) at \(threads) threads: max|Δ| \(worst)")
        }
    }
}

/// Data movement split over the pool (batched transposes by matrices, Split by runs, unary
/// functions by ranges) gives exactly the one-thread result: every element is a copy or the same
/// per-element function.
@Suite struct SplitDataMovementTests {
    @Test func transposeSplitAndUnaryMatchOneThread() throws {
        let x = pseudoRandom([6, 1, 130, 97], seed: 81)  // 75 K elements: large enough to split
        let one = try Kernels.transpose(.float(x), perm: [0, 1, 3, 2], threads: 1)
        let two = try Kernels.transpose(.float(x), perm: [0, 1, 3, 2], threads: 2)
        #expect(one == two && one.shape == [6, 1, 97, 130])
        #expect(one.floatTensor?.scalars == RearrangeAndReduceTests.naiveTranspose(x, [0, 1, 3, 2]))
        let sizes = [40, 90]
        let partsOne = try Kernels.split(.float(x), axis: 2, sizes: sizes, threads: 1)
        let partsTwo = try Kernels.split(.float(x), axis: 2, sizes: sizes, threads: 2)
        #expect(partsOne == partsTwo && partsTwo.map(\.shape) == [[6, 1, 40, 97], [6, 1, 90, 97]])
        #expect(partsTwo[1].floatTensor?.scalars.first == x.scalars[40 * 97])
    }
}
