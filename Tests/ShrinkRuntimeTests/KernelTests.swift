import CKernels
import Foundation
import ShrinkTensor
import Testing
@testable import ShrinkRuntime

/// A deterministic pseudo-random tensor (LCG), so kernel comparisons are reproducible.
func pseudoRandom(_ shape: [Int], seed: UInt64) -> Tensor {
    var s = seed &* 6364136223846793005 &+ 1442695040888963407
    let n = shape.reduce(1, *)
    var v = [Float](repeating: 0, count: n)
    for i in 0..<n {
        s = s &* 6364136223846793005 &+ 1442695040888963407
        v[i] = Float(Int((s >> 33) % 2001) - 1000) / 1000
    }
    return Tensor(shape: shape, scalars: v)
}

/// Straightforward 2-D convolution (explicit pads), the definition the fast paths must agree with.
func naiveConv2D(_ x: Tensor, _ w: Tensor, _ b: Tensor?, stride: [Int], pads: [Int], dil: [Int], group: Int) -> Tensor {
    let (n, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let (m, cg, kh, kw) = (w.shape[0], w.shape[1], w.shape[2], w.shape[3])
    let oh = (h + pads[0] + pads[2] - ((kh - 1) * dil[0] + 1)) / stride[0] + 1
    let ow = (wd + pads[1] + pads[3] - ((kw - 1) * dil[1] + 1)) / stride[1] + 1
    var out = Tensor(zeros: [n, m, oh, ow])
    let mg = m / group
    _ = c
    for i in 0..<n { for o in 0..<m { for y in 0..<oh { for xx in 0..<ow {
        var s: Double = b.map { Double($0.scalars[o]) } ?? 0
        let g = o / mg
        for ci in 0..<cg { for ky in 0..<kh { for kx in 0..<kw {
            let iy = y * stride[0] - pads[0] + ky * dil[0], ix = xx * stride[1] - pads[1] + kx * dil[1]
            if iy < 0 || iy >= h || ix < 0 || ix >= wd { continue }
            s += Double(x[i, g * cg + ci, iy, ix]) * Double(w[o, ci, ky, kx])
        } } }
        out[i, o, y, xx] = Float(s)
    } } } }
    return out
}

@Suite struct ConvKernelTests {
    @Test func handCheckedPaddedSum() throws {
        let x = Tensor(shape: [1, 1, 3, 3], scalars: (1...9).map(Float.init))
        let w = Tensor(repeating: 1, shape: [1, 1, 3, 3])
        let y = try Kernels.conv(x, weight: w, bias: Tensor(shape: [1], scalars: [0.5]), ConvAttributes(pads: [1, 1, 1, 1]))
        #expect(y.shape == [1, 1, 3, 3])
        #expect(y[0, 0, 1, 1] == 45.5)   // every element
        #expect(y[0, 0, 0, 0] == 12.5)   // 1 + 2 + 4 + 5
        #expect(y[0, 0, 2, 1] == 39.5)   // 4+5+6+7+8+9
    }

    struct Case: Sendable, CustomStringConvertible {
        var x: [Int], w: [Int], stride: [Int], pads: [Int], dil: [Int], group: Int
        var description: String { "x\(x) w\(w) s\(stride) p\(pads) d\(dil) g\(group)" }
    }

    static let cases: [Case] = [
        Case(x: [3, 4, 9, 8], w: [6, 4, 3, 3], stride: [1, 1], pads: [1, 1, 1, 1], dil: [1, 1], group: 1),   // im2col, batched GEMM
        Case(x: [2, 4, 9, 8], w: [6, 4, 3, 2], stride: [2, 3], pads: [0, 1, 2, 0], dil: [1, 1], group: 1),   // strides, asymmetric pads
        Case(x: [2, 3, 10, 10], w: [5, 3, 3, 3], stride: [1, 1], pads: [2, 2, 2, 2], dil: [2, 2], group: 1), // dilation
        Case(x: [2, 6, 7, 7], w: [4, 3, 3, 3], stride: [1, 1], pads: [1, 1, 1, 1], dil: [1, 1], group: 2),   // grouped
        Case(x: [2, 5, 8, 8], w: [5, 1, 3, 3], stride: [1, 1], pads: [1, 1, 1, 1], dil: [1, 1], group: 5),   // depthwise
        Case(x: [2, 4, 9, 9], w: [8, 1, 3, 3], stride: [2, 2], pads: [1, 0, 1, 0], dil: [1, 1], group: 4),   // depthwise ×2, stride 2
        Case(x: [3, 8, 5, 6], w: [7, 8, 1, 1], stride: [1, 1], pads: [0, 0, 0, 0], dil: [1, 1], group: 1),   // pointwise direct GEMM
        Case(x: [2, 8, 6, 6], w: [4, 8, 1, 1], stride: [2, 2], pads: [0, 0, 0, 0], dil: [1, 1], group: 1),   // strided 1×1 (im2col)
        Case(x: [3, 5, 12, 12], w: [7, 5, 5, 5], stride: [1, 1], pads: [0, 0, 0, 0], dil: [1, 1], group: 1), // unpadded (LeNet conv2: 8-float rows)
        Case(x: [2, 3, 13, 21], w: [4, 3, 3, 2], stride: [1, 1], pads: [0, 0, 0, 0], dil: [2, 3], group: 1), // unpadded, dilated, 18-float rows
        Case(x: [2, 4, 9, 9], w: [4, 2, 3, 3], stride: [1, 1], pads: [0, 0, 0, 0], dil: [1, 1], group: 2),   // unpadded, grouped
    ]

    @Test(arguments: cases)
    func matchesNaiveConvolution(_ c: Case) throws {
        let x = pseudoRandom(c.x, seed: 1), w = pseudoRandom(c.w, seed: 2), b = pseudoRandom([c.w[0]], seed: 3)
        let fast = try Kernels.conv(x, weight: w, bias: b,
                                    ConvAttributes(strides: c.stride, pads: c.pads, dilations: c.dil, group: c.group))
        let slow = naiveConv2D(x, w, b, stride: c.stride, pads: c.pads, dil: c.dil, group: c.group)
        #expect(fast.shape == slow.shape)
        #expect(worstRelativeError(fast.scalars, slow.scalars) <= 1e-5)
    }

    @Test func oneDimensionalIsTwoDimensionalWithHeightOne() throws {
        let x = pseudoRandom([2, 3, 11], seed: 4), w = pseudoRandom([4, 3, 3], seed: 5)
        let y = try Kernels.conv(x, weight: w, bias: nil, ConvAttributes(strides: [2], pads: [1, 0]))
        let ref = naiveConv2D(x.reshaped([2, 3, 1, 11]), w.reshaped([4, 3, 1, 3]), nil,
                              stride: [1, 2], pads: [0, 1, 0, 0], dil: [1, 1], group: 1)
        #expect(y.shape == [2, 4, 5])
        #expect(worstRelativeError(y.scalars, ref.scalars) <= 1e-5)
    }

    @Test func autoPadSameUpperKeepsSizeOverStride() throws {
        let x = pseudoRandom([1, 2, 7, 7], seed: 6), w = pseudoRandom([3, 2, 4, 4], seed: 7)
        let y = try Kernels.conv(x, weight: w, bias: nil, ConvAttributes(strides: [2, 2], autoPad: .sameUpper))
        #expect(y.shape == [1, 3, 4, 4])
        // total pad = (4-1)·2 + 4 − 7 = 3: 1 before, 2 after (SAME_UPPER puts the odd one at the end).
        let ref = naiveConv2D(x, w, nil, stride: [2, 2], pads: [1, 1, 2, 2], dil: [1, 1], group: 1)
        #expect(worstRelativeError(y.scalars, ref.scalars) <= 1e-5)
    }

    @Test func fusedActivationEqualsSeparate() throws {
        let x = pseudoRandom([2, 3, 6, 6], seed: 8), w = pseudoRandom([4, 3, 3, 3], seed: 9)
        let a = try Kernels.conv(x, weight: w, bias: nil, ConvAttributes(), activation: .relu)
        let b = Activation.relu.apply(try Kernels.conv(x, weight: w, bias: nil, ConvAttributes()))
        #expect(a == b)
    }

    @Test func rejectsChannelMismatch() {
        #expect(throws: KernelError.self) {
            try Kernels.conv(Tensor(zeros: [1, 3, 5, 5]), weight: Tensor(zeros: [2, 2, 3, 3]), bias: nil, ConvAttributes())
        }
    }
}

@Suite struct DenseKernelTests {
    @Test func gemmTransposesScalesAndBroadcastsC() throws {
        let a = Tensor(rows: [[1, 2], [3, 4], [5, 6]])          // Aᵀ is 2×3
        let b = Tensor(rows: [[1, 0, 1], [0, 1, 1]])            // stored [N, K]; B' = bᵀ is 3×2
        let c = Tensor(shape: [2], scalars: [10, 20])
        let y = try Kernels.gemm(a, b, c, GemmAttributes(alpha: 2, beta: 0.5, transA: true, transB: true))
        // Aᵀ·bᵀ = [[1,3,5],[2,4,6]] · [[1,0],[0,1],[1,1]] = [[6, 8], [8, 10]]; ×2 + 0.5·C
        #expect(y == Tensor(rows: [[17, 26], [21, 30]]))
    }

    @Test func matmulBatchedBroadcastAndVectors() throws {
        let a = pseudoRandom([2, 1, 3, 4], seed: 10), b = pseudoRandom([3, 4, 5], seed: 11)
        let y = try Kernels.matmul(a, b)
        #expect(y.shape == [2, 3, 3, 5])
        for i in 0..<2 { for j in 0..<3 { for r in 0..<3 { for c in 0..<5 {
            var s: Float = 0
            for k in 0..<4 { s += a[i, 0, r, k] * b[j, k, c] }
            #expect(abs(y[i, j, r, c] - s) <= 1e-5)
        } } } }
        let v = try Kernels.matmul(Tensor(shape: [2], scalars: [1, 2]), Tensor(rows: [[1, 2, 3], [4, 5, 6]]))
        #expect(v == Tensor(shape: [3], scalars: [9, 12, 15]))
    }

    @Test func broadcastingArithmetic() throws {
        let a = Tensor(shape: [2, 3, 2], scalars: (0..<12).map(Float.init))
        let b = Tensor(shape: [3, 1], scalars: [100, 200, 300])
        let y = try Kernels.binary(.add, a, b)
        #expect(y.shape == [2, 3, 2])
        #expect(y[1, 2, 1] == 311)
        let z = try Kernels.binary(.div, Tensor(shape: [1], scalars: [1]), Tensor(shape: [2, 2], scalars: [1, 2, 4, 8]))
        #expect(z == Tensor(shape: [2, 2], scalars: [1, 0.5, 0.25, 0.125]))
        #expect(throws: KernelError.self) { try Kernels.binary(.mul, Tensor(zeros: [2, 3]), Tensor(zeros: [4])) }
    }

    @Test func softmaxRowsSumToOneAndLegacyCoercesTo2D() throws {
        let x = pseudoRandom([2, 3, 4], seed: 12)
        let y = try Kernels.softmax(x, axis: 1)
        for i in 0..<2 { for k in 0..<4 { #expect(abs((0..<3).map { y[i, $0, k] }.reduce(0, +) - 1) < 1e-6) } }
        let l = try Kernels.softmax(x, axis: 1, legacy: true)
        #expect(abs(l.scalars[0..<12].reduce(0, +) - 1) < 1e-5)
    }
}

@Suite struct PoolAndShapeKernelTests {
    @Test func maxAndAveragePool() throws {
        let x = Tensor(shape: [1, 1, 3, 3], scalars: (1...9).map(Float.init))
        let m = try Kernels.pool(.max, x, PoolAttributes(kernelShape: [2, 2], strides: [2, 2], ceilMode: true))
        #expect(m == Tensor(shape: [1, 1, 2, 2], scalars: [5, 6, 8, 9]))
        let a = try Kernels.pool(.average, x, PoolAttributes(kernelShape: [2, 2], strides: [1, 1], pads: [1, 1, 0, 0]))
        #expect(a[0, 0, 0, 0] == 1)             // only the one real element counts
        let ai = try Kernels.pool(.average, x, PoolAttributes(kernelShape: [2, 2], strides: [1, 1], pads: [1, 1, 0, 0],
                                                               countIncludePad: true))
        #expect(ai[0, 0, 0, 0] == 0.25)
        let d = try Kernels.pool(.max, x, PoolAttributes(kernelShape: [2, 2], dilations: [2, 2]))
        #expect(d == Tensor(shape: [1, 1, 1, 1], scalars: [9]))
        let g = try Kernels.globalAveragePool(x)
        #expect(g == Tensor(shape: [1, 1, 1, 1], scalars: [5]))
    }

    @Test func reshapeZeroMinusOneAndAllowZero() throws {
        let x = Value.float(Tensor(zeros: [2, 3, 4]))
        #expect(try Kernels.reshape(x, shape: [0, -1]).shape == [2, 12])
        #expect(try Kernels.reshape(x, shape: [-1, 4]).shape == [6, 4])
        #expect(throws: KernelError.self) { try Kernels.reshape(x, shape: [0, -1], allowZero: true) }
        #expect(try Kernels.reshape(.float(Tensor(zeros: [0, 3])), shape: [0, 3], allowZero: true).shape == [0, 3])
    }

    @Test func hostileSizesAreErrorsNotTraps() throws {
        let x = Value.float(Tensor(zeros: [2, 3]))
        #expect(throws: KernelError.self) { try Kernels.reshape(x, shape: [1 << 40, 1 << 40, -1]) }
        #expect(throws: KernelError.self) {
            try Kernels.conv(Tensor(zeros: [1, 1, 4, 4]), weight: Tensor(zeros: [1, 1, 1, 1]), bias: nil,
                             ConvAttributes(pads: [1 << 40, 0, 0, 0]))
        }
        let big = IntTensor([Int64.max, Int64.min])
        #expect(try Kernels.binary(.mul, big, IntTensor([2])).values.count == 2)   // wraps, no trap
        #expect(try Kernels.binary(.div, big, IntTensor([-1])).values.count == 2)
        #expect(throws: KernelError.self) { try Kernels.binary(.div, big, IntTensor([0])) }
    }

    @Test func gatherShapeUnsqueezeConcatOnInts() throws {
        let s = Kernels.shape(.float(Tensor(zeros: [5, 1, 28, 28])))
        #expect(s == IntTensor([5, 1, 28, 28]))
        let n = try Kernels.gather(.int64(s), indices: IntTensor(shape: [], values: [0]), axis: 0)
        #expect(n.shape == [])
        let u = try Kernels.unsqueeze(n, axes: [0])
        let c = try Kernels.concat([u, .int64(IntTensor([-1]))], axis: 0)
        #expect(c == .int64(IntTensor([5, -1])))
        let t = try Kernels.gather(.float(Tensor(rows: [[1, 2, 3], [4, 5, 6]])), indices: IntTensor([-1, 0]), axis: 1)
        #expect(t == .float(Tensor(rows: [[3, 1], [6, 4]])))
        #expect(try Kernels.squeeze(.float(Tensor(zeros: [1, 3, 1])), axes: nil).shape == [3])
        #expect(try Kernels.transpose(.float(Tensor(rows: [[1, 2, 3]])), perm: nil) == .float(Tensor(rows: [[1], [2], [3]])))
    }
}

/// Nearest Resize of the last two axes runs in one pass over the output; it gives exactly what
/// resizing one axis after the other gives (the definition the onnxruntime fixtures check), for
/// every coordinate mode and rounding, up and down, by scales and by odd sizes.
@Suite struct ResizePlaneTests {
    static let modes: [ResizeCoordinates] = [.halfPixel, .pytorchHalfPixel, .alignCorners, .asymmetric, .tfHalfPixelForNearest, .halfPixelSymmetric]
    static let roundings: [ResizeNearestRounding] = [.roundPreferFloor, .roundPreferCeil, .floor, .ceil, .simple]

    @Test(arguments: modes, roundings)
    func onePassEqualsAxisByAxis(_ mode: ResizeCoordinates, _ rounding: ResizeNearestRounding) throws {
        let a = ResizeAttributes(linear: false, coordinates: mode, nearest: rounding)
        let x = pseudoRandom([2, 3, 5, 7], seed: 9)
        for (scales, sizes) in [([1, 1, 2, 2] as [Float]?, nil as [Int]?), ([1, 1, 0.6, 0.5], nil), (nil, [2, 3, 11, 4]), (nil, [2, 3, 5, 13])] {
            let got = try Kernels.resize(x, scales: scales, sizes: sizes, a)
            var ref = x
            for ax in [2, 3] where got.shape[ax] != x.shape[ax] || (scales?[ax] ?? 1) != 1 {
                let scale = scales?[ax] ?? Float(got.shape[ax]) / Float(x.shape[ax])
                ref = try Kernels.resizeAxis(ref, axis: ax, to: got.shape[ax], scale: scale, a)
            }
            #expect(got.shape == ref.shape && got.scalars == ref.scalars, "\(mode) \(rounding) scales \(scales ?? []) sizes \(sizes ?? [])")
        }
    }

    /// Planes split over 2 threads (an ocr-det neck's size) copy the same elements as one thread.
    @Test func planesSplitOverThreadsCopyTheSameElements() throws {
        let a = ResizeAttributes(linear: false, coordinates: .asymmetric, nearest: .floor)
        let x = pseudoRandom([2, 23, 12, 20], seed: 10)
        for (scales, sizes) in [([1, 1, 2, 2] as [Float]?, nil as [Int]?), (nil, [2, 23, 25, 41])] {
            let one = try Kernels.resize(x, scales: scales, sizes: sizes, a, threads: 1)
            let two = try Kernels.resize(x, scales: scales, sizes: sizes, a, threads: 2)
            #expect(one.count >= 1 << 15)
            #expect(one.shape == two.shape && one.scalars == two.scalars)
        }
    }
}

/// Transpose's fast paths (merged axes, tiled batched swaps, block copies) and the reductions over
/// merged runs, against element-by-element definitions.
@Suite struct RearrangeAndReduceTests {
    /// NumPy's transpose, index by index.
    static func naiveTranspose(_ x: Tensor, _ perm: [Int]) -> [Float] {
        let out = perm.map { x.shape[$0] }, st = Tensor.strides(for: x.shape), n = x.count
        var result = [Float](repeating: 0, count: n), idx = [Int](repeating: 0, count: out.count)
        for i in 0..<n {
            var rem = i
            for d in stride(from: out.count - 1, through: 0, by: -1) { idx[d] = rem % out[d]; rem /= out[d] }
            result[i] = x.scalars[zip(perm, idx).reduce(0) { $0 + st[$1.0] * $1.1 }]
        }
        return result
    }

    @Test(arguments: [
        (shape: [3, 1, 37, 21], perm: [0, 1, 3, 2]),  // a spectrogram's batched swap, tiled
        (shape: [2, 17, 19], perm: [0, 2, 1]),
        (shape: [33, 18], perm: [1, 0]),
        (shape: [2, 3, 4, 5], perm: [0, 2, 1, 3]),  // the last axis stays: block copies
        (shape: [2, 3, 4, 5], perm: [3, 1, 0, 2]),  // general
        (shape: [4, 1, 6, 1, 5], perm: [4, 3, 2, 1, 0]),
        (shape: [5, 6, 7], perm: [1, 2, 0]),  // merges to a 2-D swap
        (shape: [1, 1, 9], perm: [2, 0, 1]),  // only size-1 axes move: no copy needed
        (shape: [0, 3, 2], perm: [2, 1, 0]),
    ])
    func transposeMatchesTheDefinition(_ c: (shape: [Int], perm: [Int])) throws {
        let x = pseudoRandom(c.shape, seed: 7)
        let got = try #require(try Kernels.transpose(.float(x), perm: c.perm).floatTensor)
        #expect(got.shape == c.perm.map { c.shape[$0] })
        #expect(got.scalars == Self.naiveTranspose(x, c.perm))  // element moves: exact
        let ints = IntTensor(shape: c.shape, values: (0..<x.count).map(Int64.init))
        let gotInts = try #require(try Kernels.transpose(.int64(ints), perm: c.perm).intTensor)
        #expect(gotInts.values.map { Float($0) } == Self.naiveTranspose(Tensor(shape: c.shape, scalars: ints.values.map { Float($0) }), c.perm))
    }

    /// The C transpose on each path (AVX-512 and AVX2 share the 8×8 register blocks; the plain
    /// path tiles), with edges on both sides.
    @Test(arguments: KernelPath.allCases)
    func matrixTransposeOnEachPath(_ path: KernelPath) {
        for (rows, cols) in [(13, 21), (8, 8), (1, 17), (16, 9), (257, 197), (0, 5)] {
            let x = pseudoRandom([rows, cols], seed: 11)
            var out = [Float](repeating: .nan, count: rows * cols)
            x.scalars.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { shrink_transpose(path.isa, s.baseAddress, rows, cols, $0.baseAddress) }
            }
            #expect(out == Self.naiveTranspose(x, [1, 0]), "\(rows)×\(cols) on \(path)")
        }
    }

    /// Max pools over non-overlapping 2×2, 1×2 and 2×1 windows on each path against the
    /// definition, odd sizes (a trailing row or column no window reaches), NaN kept.
    @Test(arguments: KernelPath.allCases)
    func maxPoolTilesOnEachPath(_ path: KernelPath) {
        for (ky, kx) in [(2, 2), (1, 2), (2, 1)] {
            let (planes, h, w) = (3, 7, 37)
            var x = pseudoRandom([planes, h, w], seed: 13)
            x.scalars[5] = .nan
            x.scalars[h * w + 2 * w + 33] = .nan
            let oh = h / ky, ow = w / kx
            var out = [Float](repeating: 0, count: planes * oh * ow)
            x.scalars.withUnsafeBufferPointer { s in
                out.withUnsafeMutableBufferPointer { shrink_maxpool_tiles(path.isa, s.baseAddress, planes, h, w, ky, kx, $0.baseAddress, oh, ow) }
            }
            var wrong = 0
            for p in 0..<planes { for oy in 0..<oh { for ox in 0..<ow {
                let window = (0..<ky).flatMap { dy in (0..<kx).map { dx in x.scalars[(p * h + oy * ky + dy) * w + ox * kx + dx] } }
                let want = window.contains { $0.isNaN } ? Float.nan : window.max()!
                let got = out[(p * oh + oy) * ow + ox]
                if !(got == want || got.isNaN && want.isNaN) { wrong += 1 }
            } } }
            #expect(wrong == 0, "\(ky)×\(kx) on \(path)")
        }
    }

    @Test(arguments: [ReduceKind.max, .min, .sum, .mean, .sumSquare])
    func reductionsOverMergedAxesMatchTheDefinition(_ kind: ReduceKind) throws {
        let x = pseudoRandom([3, 4, 5, 37], seed: 9)
        for axes in [[2, 3], [0, 1, 2, 3], [1], [0, 3], [1, 2]] {
            let got = try Kernels.reduce(kind, x, axes: axes, keepDims: false)
            // Reference: every output accumulates its inputs in Double.
            let keep = (0..<4).filter { !axes.contains($0) }
            var acc = [Double](repeating: kind == .max ? -.infinity : kind == .min ? .infinity : 0,
                               count: keep.map { x.shape[$0] }.reduce(1, *))
            var counts = [Int](repeating: 0, count: acc.count)
            let st = Tensor.strides(for: x.shape)
            for i in 0..<x.count {
                var o = 0
                for a in keep { o = o * x.shape[a] + i / st[a] % x.shape[a] }
                let v = Double(x.scalars[i])
                switch kind {
                case .max: acc[o] = max(acc[o], v)
                case .min: acc[o] = min(acc[o], v)
                case .sumSquare: acc[o] += v * v
                default: acc[o] += v
                }
                counts[o] += 1
            }
            if kind == .mean { for o in acc.indices { acc[o] /= Double(counts[o]) } }
            #expect(got.count == acc.count)
            let worst = zip(got.scalars, acc).map { abs(Double($0) - $1) }.max() ?? .infinity
            #expect(worst <= 1e-4 * max(1, acc.map(abs).max() ?? 0), "\(kind) over \(axes): max|Δ| \(worst)")
        }
    }

    @Test func aNaNAnywhereMakesMaxAndMinNaN() throws {
        for at in [0, 5, 16, 31, 32, 40] {  // in the vector part and in the tail
            var x = pseudoRandom([41], seed: 3)
            x.scalars[at] = .nan
            #expect(try Kernels.reduce(.max, x, axes: nil, keepDims: false).scalars[0].isNaN, "NaN at \(at)")
            #expect(try Kernels.reduce(.min, x, axes: [0], keepDims: true).scalars[0].isNaN, "NaN at \(at)")
        }
        let x = Tensor(shape: [2, 20], scalars: (0..<40).map { Float($0 % 20) - ($0 < 20 ? 0 : 100) })
        #expect(try Kernels.reduce(.max, x, axes: [1], keepDims: false).scalars == [19, -81])
    }

    @Test(arguments: [Float(2), 1, 0.5, 3, 1.5])
    func powByAScalarMatchesPow(_ e: Float) throws {
        let x = Tensor(shape: [3, 50], scalars: pseudoRandom([150], seed: 5).scalars.map { abs($0) * 3 })
        let got = try Kernels.binary(.pow, x, Tensor(shape: [], scalars: [e]))
        let worst = zip(got.scalars, x.scalars).map { abs($0 - Foundation.pow($1, e)) }.max() ?? .infinity
        #expect(worst <= 1e-5 * 30, "x^\(e): max|Δ| \(worst)")
    }
}
