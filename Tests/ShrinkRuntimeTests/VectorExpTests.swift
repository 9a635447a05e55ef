import CKernels
import Foundation
import ShrinkTensor
import Testing
@testable import ShrinkRuntime

/// The vectorised exp behind Softmax, Sigmoid and Swish, on every dispatch path (forced), against
/// double-precision definitions: |Δ| ≤ 1e-6 + 1e-5·|ref|, odd lengths (vector tails), values that
/// saturate exp at both ends, and NaN kept NaN.
@Suite struct VectorExpTests {
    static let paths: [KernelPath] = [.generic, .avx2, .avx512]

    /// Values from −120 to 120 (beyond exp's float range on both sides) with odd spacing.
    static func values(_ n: Int, scale: Double = 120) -> [Float] {
        (0..<n).map { i in Float(scale * sin(Double(i) * 1.7 + 0.3)) }
    }

    @Test(arguments: paths, [1, 7, 16, 33, 6625])
    func softmaxRowsMatchTheDefinition(_ path: KernelPath, _ n: Int) {
        for scale in [3.0, 120.0] {
            var x = Self.values(3 * n, scale: scale)
            let ref: [Double] = (0..<3).flatMap { r -> [Double] in
                let row = x[(r * n)..<((r + 1) * n)].map(Double.init)
                let m = row.max()!
                let e = row.map { Foundation.exp($0 - m) }
                let s = e.reduce(0, +)
                return e.map { $0 / s }
            }
            x.withUnsafeMutableBufferPointer { shrink_softmax_rows(path.supported.isa, $0.baseAddress!, 3, n) }
            let worst = zip(x, ref).map { abs(Double($0) - $1) - 1e-5 * abs($1) }.max()!
            #expect(worst <= 1e-6, "\(path) n=\(n) scale \(scale): \(worst)")
        }
    }

    @Test(arguments: paths, [(Float(1), Int32(0)), (Float(1), Int32(1)), (Float(1.702), Int32(1))])
    func sigmoidAndSwishMatchTheDefinition(_ path: KernelPath, _ form: (beta: Float, times: Int32)) {
        var x = Self.values(1001) + [0, -0.0, .infinity, -.infinity, .greatestFiniteMagnitude, -.greatestFiniteMagnitude]
        let ref = x.map { v -> Double in
            let z = Double(form.beta) * Double(v)
            let s = z >= 0 ? 1 / (1 + Foundation.exp(-z)) : Foundation.exp(z) / (1 + Foundation.exp(z))
            return form.times != 0 ? (s == 0 ? 0 : Double(v) * s) : s
        }
        let x0 = x
        x.withUnsafeMutableBufferPointer { shrink_sigmoid(path.supported.isa, $0.baseAddress!, $0.count, form.beta, form.times) }
        // Swish of ±inf is inf·σ: 0·inf for −inf, left out (data inputs are checked finite).
        for (i, (got, want)) in zip(x, ref).enumerated() where want.isFinite && (form.times == 0 || x0[i].isFinite) {
            #expect(abs(Double(got) - want) <= 1e-6 + 1e-5 * abs(want), "\(path) \(form) x[\(i)]: \(got) vs \(want)")
        }
        var nan: [Float] = [.nan, 1, .nan]
        nan.withUnsafeMutableBufferPointer { shrink_sigmoid(path.supported.isa, $0.baseAddress!, 3, form.beta, form.times) }
        #expect(nan[0].isNaN && nan[2].isNaN && !nan[1].isNaN)
    }

    @Test func softmaxOnOtherAxesAndLegacyAgreeWithTheVectorRows() throws {
        // The last axis runs the vector kernel; axis 1 of 3 runs the strided loop: both are softmax.
        let x = pseudoRandom([4, 5, 37], seed: 41)
        let last = try Kernels.softmax(x, axis: -1, threads: 2)
        let legacy = try Kernels.softmax(x, axis: 1, legacy: true)
        let middle = try Kernels.softmax(x, axis: 1)
        for r in 0..<20 {
            let row = last.scalars[(r * 37)..<((r + 1) * 37)]
            #expect(abs(row.reduce(0, +) - 1) <= 1e-5)
        }
        for i in 0..<4 {
            #expect(abs(legacy.scalars[(i * 185)..<((i + 1) * 185)].reduce(0, +) - 1) <= 1e-5)
            for j in 0..<37 {
                let s = (0..<5).map { middle[i, $0, j] }.reduce(0, +)
                #expect(abs(s - 1) <= 1e-5)
            }
        }
    }
}

/// The C piecewise-linear activations on every path against their definitions, with a tail
/// shorter than a vector and NaN kept.
@Suite struct PiecewiseActivationTests {
    static let kinds: [(kind: Int32, a: Float, b: Float, f: @Sendable (Float) -> Float)] = [
        (Int32(SHRINK_ACT_RELU), 0, 0, { $0 < 0 ? 0 : $0 }),
        (Int32(SHRINK_ACT_LEAKY), 0.1, 0, { $0 >= 0 ? $0 : 0.1 * $0 }),
        (Int32(SHRINK_ACT_CLIP), -0.5, 1.5, { min(max($0, -0.5), 1.5) }),
        (Int32(SHRINK_ACT_HARD_SIGMOID), 0.2, 0.5, { max(0, min(1, 0.2 * $0 + 0.5)) }),
        (Int32(SHRINK_ACT_HARD_SWISH), 0, 0, { $0 * max(0, min(1, $0 * (1 / 6) + 0.5)) }),
        (Int32(SHRINK_ACT_AFFINE), 1.5, -2, { 1.5 * $0 - 2 }),
    ]

    @Test(arguments: KernelPath.allCases)
    func eachKindOnEachPath(_ path: KernelPath) {
        let x = (0..<37).map { Float($0) * 0.37 - 6.5 } + [.infinity, -.infinity, .nan]
        for k in Self.kinds {
            var y = x
            y.withUnsafeMutableBufferPointer { shrink_activation(path.isa, k.kind, $0.baseAddress, $0.count, k.a, k.b) }
            for (v, got) in zip(x, y) {
                if v.isNaN { #expect(got.isNaN, "kind \(k.kind) on \(path): NaN became \(got)"); continue }
                let want = k.f(v)
                #expect(got == want || abs(got - want) <= 1e-6 * max(1, abs(want)) || got.isNaN && want.isNaN,
                        "kind \(k.kind) on \(path) at \(v): \(got) vs \(want)")
            }
        }
    }
}
