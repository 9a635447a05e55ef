import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing
@testable import ShrinkRuntime

/// One Conv configuration for the kernel-path tests.
struct ConvCase: Sendable, CustomStringConvertible {
    var name: String
    var x: [Int]
    var w: [Int]
    var attrs: ConvAttributes
    var bias = true
    var activation: Activation?
    var pool: Kernels.FusedPool?
    var description: String { name }
}

/// Conv straight from the definition (double accumulation), for 1-D and 2-D inputs with explicit pads.
func naiveConv(_ x: Tensor, _ w: Tensor, _ b: Tensor?, _ a: ConvAttributes) -> Tensor {
    let oneD = x.rank == 3
    let n = x.shape[0], c = x.shape[1], h = oneD ? 1 : x.shape[2], wd = x.shape.last!
    let m = w.shape[0], cg = w.shape[1], kh = oneD ? 1 : w.shape[2], kw = w.shape.last!
    let g = a.group, mg = m / g
    let s = a.strides ?? (oneD ? [1] : [1, 1]), d = a.dilations ?? (oneD ? [1] : [1, 1])
    let p = a.pads ?? (oneD ? [0, 0] : [0, 0, 0, 0])
    let (sy, sx) = oneD ? (1, s[0]) : (s[0], s[1]), (dy, dx) = oneD ? (1, d[0]) : (d[0], d[1])
    let (pt, pl, pb, pr) = oneD ? (0, p[0], 0, p[1]) : (p[0], p[1], p[2], p[3])
    let oh = (h + pt + pb - (dy * (kh - 1) + 1)) / sy + 1, ow = (wd + pl + pr - (dx * (kw - 1) + 1)) / sx + 1
    var out = [Float](repeating: 0, count: n * m * oh * ow)
    for i in 0..<n {
        for o in 0..<m {
            let grp = o / mg
            for oy in 0..<oh {
                for ox in 0..<ow {
                    var acc = Double(b?.scalars[o] ?? 0)
                    for ci in 0..<cg {
                        let ch = grp * cg + ci
                        for ky in 0..<kh {
                            let iy = oy * sy + ky * dy - pt
                            guard iy >= 0 && iy < h else { continue }
                            for kx in 0..<kw {
                                let ix = ox * sx + kx * dx - pl
                                guard ix >= 0 && ix < wd else { continue }
                                acc += Double(x.scalars[((i * c + ch) * h + iy) * wd + ix])
                                    * Double(w.scalars[((o * cg + ci) * kh + ky) * kw + kx])
                            }
                        }
                    }
                    out[((i * m + o) * oh + oy) * ow + ox] = Float(acc)
                }
            }
        }
    }
    return Tensor(shape: oneD ? [n, m, ow] : [n, m, oh, ow], scalars: out)
}

/// Shrink's own convolution kernels on every dispatch path (forced), against the definition and
/// onnxruntime's op fixtures: max|Δ| ≤ 1e-4 · max(1, max|ref|).
@Suite struct OwnKernelTests {
    static let cases: [ConvCase] = [
        ConvCase(name: "3x3 pad1 odd 37 channels 13x11", x: [1, 5, 13, 11], w: [37, 5, 3, 3],
                 attrs: ConvAttributes(pads: [1, 1, 1, 1])),
        ConvCase(name: "5x5 valid batch 3 (image groups)", x: [3, 3, 12, 12], w: [9, 3, 5, 5], attrs: ConvAttributes()),
        ConvCase(name: "3x3 stride 2 asym pads relu", x: [2, 4, 9, 10], w: [17, 4, 3, 3],
                 attrs: ConvAttributes(strides: [2, 2], pads: [0, 1, 2, 1]), activation: .relu),
        ConvCase(name: "3x3 dilation 2 hardswish", x: [1, 6, 11, 9], w: [8, 6, 3, 3],
                 attrs: ConvAttributes(pads: [2, 2, 2, 2], dilations: [2, 2]), activation: .hardSwish),
        ConvCase(name: "groups 3", x: [2, 6, 7, 7], w: [9, 2, 3, 3], attrs: ConvAttributes(pads: [1, 1, 1, 1], group: 3)),
        ConvCase(name: "1x1 pointwise 70 to 33 on 15x15", x: [2, 70, 15, 15], w: [33, 70, 1, 1], attrs: ConvAttributes(),
                 activation: .relu),
        ConvCase(name: "1x1 no bias large K (K blocks)", x: [1, 300, 6, 7], w: [19, 300, 1, 1], attrs: ConvAttributes(),
                 bias: false),
        ConvCase(name: "3x3 large K 64 ch (K blocks) 40 columns", x: [1, 64, 5, 8], w: [24, 64, 3, 3],
                 attrs: ConvAttributes(pads: [1, 1, 1, 1])),
        ConvCase(name: "1x1 stride 2", x: [1, 8, 9, 9], w: [12, 8, 1, 1], attrs: ConvAttributes(strides: [2, 2])),
        ConvCase(name: "depthwise 3x3 pad 1", x: [2, 7, 10, 13], w: [7, 1, 3, 3],
                 attrs: ConvAttributes(pads: [1, 1, 1, 1], group: 7), activation: .relu),
        ConvCase(name: "depthwise 5x5 stride 2", x: [1, 5, 17, 15], w: [5, 1, 5, 5],
                 attrs: ConvAttributes(strides: [2, 2], pads: [2, 2, 2, 2], group: 5)),
        ConvCase(name: "depthwise 5x5 stride 1 asym pads (padded-plane kernel)", x: [1, 6, 9, 12], w: [6, 1, 5, 5],
                 attrs: ConvAttributes(pads: [2, 1, 0, 3], group: 6), activation: .relu),
        ConvCase(name: "depthwise 3x3 stride 2 asym pads odd plane", x: [2, 5, 12, 11], w: [5, 1, 3, 3],
                 attrs: ConvAttributes(strides: [2, 2], pads: [1, 0, 0, 1], group: 5)),
        ConvCase(name: "depthwise 3x1 (CP vertical)", x: [1, 6, 11, 8], w: [6, 1, 3, 1],
                 attrs: ConvAttributes(pads: [1, 0, 1, 0], group: 6)),
        ConvCase(name: "depthwise 1x5 (CP horizontal) dilation 2", x: [1, 4, 7, 19], w: [4, 1, 1, 5],
                 attrs: ConvAttributes(pads: [0, 4, 0, 4], dilations: [1, 2], group: 4), activation: .sigmoid),
        ConvCase(name: "depthwise multiplier 2 stride 3", x: [1, 3, 14, 14], w: [6, 1, 3, 3],
                 attrs: ConvAttributes(strides: [3, 3], pads: [1, 1, 1, 1], group: 3)),
        ConvCase(name: "1-D stride 2 pads", x: [2, 6, 31], w: [10, 6, 5], attrs: ConvAttributes(strides: [2], pads: [1, 2])),
        ConvCase(name: "3x3 with fused max pool", x: [2, 3, 12, 12], w: [10, 3, 3, 3],
                 attrs: ConvAttributes(pads: [1, 1, 1, 1]), activation: .relu,
                 pool: Kernels.FusedPool(kind: .max, attributes: PoolAttributes(kernelShape: [2, 2], strides: [2, 2]))),
        ConvCase(name: "8x8 weights on 1x1 output", x: [1, 3, 8, 8], w: [5, 3, 8, 8], attrs: ConvAttributes()),
        // Large enough that 2 threads split the GEMM's columns and the depthwise planes.
        ConvCase(name: "3x3 split over threads (4 M MACs)", x: [1, 32, 20, 20], w: [36, 32, 3, 3],
                 attrs: ConvAttributes(pads: [1, 1, 1, 1]), activation: .relu),
        // Winograd F(2×2, 3×3) (3×3, stride 1, ≥ 8 channels on each side) when the filter is
        // packed here; the pre-packed filter of the test has no Winograd panels, so both run.
        ConvCase(name: "winograd pad 1 odd 13x11 relu", x: [2, 9, 13, 11], w: [19, 9, 3, 3],
                 attrs: ConvAttributes(pads: [1, 1, 1, 1]), activation: .relu),
        ConvCase(name: "winograd valid 12x9 odd output", x: [1, 10, 12, 9], w: [21, 10, 3, 3], attrs: ConvAttributes(),
                 bias: false),
        ConvCase(name: "winograd asym pads hardswish batch 3", x: [3, 16, 9, 14], w: [24, 16, 3, 3],
                 attrs: ConvAttributes(pads: [0, 2, 1, 0]), activation: .hardSwish),
        ConvCase(name: "winograd batch 5 image groups with fused pool", x: [5, 8, 6, 6], w: [8, 8, 3, 3],
                 attrs: ConvAttributes(pads: [1, 1, 1, 1]), activation: .relu,
                 pool: Kernels.FusedPool(kind: .max, attributes: PoolAttributes(kernelShape: [2, 2], strides: [2, 2]))),
        ConvCase(name: "winograd 17 rows (two-panel narrow kernel) 4x4", x: [1, 20, 4, 4], w: [17, 20, 3, 3],
                 attrs: ConvAttributes(pads: [1, 1, 1, 1])),
        ConvCase(name: "depthwise split over threads", x: [1, 32, 40, 40], w: [32, 1, 3, 3],
                 attrs: ConvAttributes(pads: [1, 1, 1, 1], group: 32)),
        // Depthwise with mixed strides (PP-OCR keeps a line's width), on the padded fast path,
        // with the activation applied plane by plane.
        ConvCase(name: "depthwise 5x5 stride 2x1 hardswish", x: [2, 12, 7, 19], w: [12, 1, 5, 5],
                 attrs: ConvAttributes(strides: [2, 1], pads: [2, 2, 2, 2], group: 12), activation: .hardSwish),
        ConvCase(name: "depthwise 3x3 stride 1x2 sigmoid", x: [1, 9, 6, 13], w: [9, 1, 3, 3],
                 attrs: ConvAttributes(strides: [1, 2], pads: [1, 0, 1, 1], group: 9), activation: .sigmoid),
        ConvCase(name: "depthwise 5x5 on 2-row planes", x: [3, 16, 2, 21], w: [16, 1, 5, 5],
                 attrs: ConvAttributes(pads: [2, 2, 2, 2], group: 16), activation: .relu),
        // One image split by output rows over 2 threads (im2col and GEMM per part), for each
        // im2col variant, odd row counts, groups, and activations applied per part.
        ConvCase(name: "row parts same width 5x5 pad 2 hardswish", x: [1, 6, 23, 21], w: [40, 6, 5, 5],
                 attrs: ConvAttributes(pads: [2, 2, 2, 2]), activation: .hardSwish),
        ConvCase(name: "row parts valid 5x5 13 rows", x: [1, 7, 17, 19], w: [24, 7, 5, 5], attrs: ConvAttributes(),
                 activation: .relu),
        ConvCase(name: "row parts stride 2 dilation 2 groups 2 sigmoid", x: [1, 8, 29, 27], w: [64, 4, 3, 3],
                 attrs: ConvAttributes(strides: [2, 2], pads: [2, 1, 1, 2], dilations: [2, 2], group: 2),
                 activation: .sigmoid),
        ConvCase(name: "row parts batch 1 with fused pool split by planes", x: [1, 3, 40, 40], w: [32, 3, 3, 3],
                 attrs: ConvAttributes(pads: [1, 1, 1, 1]), activation: .relu,
                 pool: Kernels.FusedPool(kind: .max, attributes: PoolAttributes(kernelShape: [2, 2], strides: [2, 2]))),
        // Implicit GEMM (no tap reads padding): the input read through offsets, no im2col.
        ConvCase(name: "implicit STFT-like 1-D stride 160 kernel 512 (K blocks, row split)", x: [2, 1, 4000],
                 w: [300, 1, 512], attrs: ConvAttributes(strides: [160])),
        ConvCase(name: "implicit 2-D strides 2x1 dilation 2 groups 2 (column split, NC blocks)", x: [1, 4, 40, 90],
                 w: [16, 2, 3, 3], attrs: ConvAttributes(strides: [2, 1], dilations: [2, 2], group: 2),
                 activation: .hardSwish),
        ConvCase(name: "implicit 3x1 valid with a trailing row no tap reaches", x: [1, 5, 12, 9], w: [11, 5, 3, 1],
                 attrs: ConvAttributes(strides: [2, 1]), activation: .relu),
        // Strided convs that read padding: implicit GEMM over a zero-bordered copy of the input.
        ConvCase(name: "padded implicit stem 3x3 stride 2 pad 1 (3 to 16) 33x47", x: [1, 3, 33, 47], w: [16, 3, 3, 3],
                 attrs: ConvAttributes(strides: [2, 2], pads: [1, 1, 1, 1]), activation: .hardSwish),
        ConvCase(name: "padded implicit 5x3 strides 2x3 asym pads dilation 2x1", x: [1, 4, 21, 50], w: [20, 4, 5, 3],
                 attrs: ConvAttributes(strides: [2, 3], pads: [3, 0, 1, 2], dilations: [2, 1]), activation: .relu),
        ConvCase(name: "padded implicit 1-D stride 3 pads (K blocks)", x: [1, 40, 300], w: [12, 40, 7],
                 attrs: ConvAttributes(strides: [3], pads: [3, 2])),
        ConvCase(name: "pointwise row panels leaky relu 1x40", x: [1, 96, 1, 40], w: [200, 96, 1, 1], attrs: ConvAttributes(),
                 activation: .leakyRelu(alpha: 0.1)),
    ]

    @Test(arguments: cases, KernelPath.allCases)
    func convMatchesTheDefinition(_ c: ConvCase, _ path: KernelPath) throws {
        let x = pseudoRandom(c.x, seed: 1), w = pseudoRandom(c.w, seed: 2)
        let b = c.bias ? pseudoRandom([c.w[0]], seed: 3) : nil
        var ref = naiveConv(x, w, b, c.attrs)
        if let act = c.activation { act.apply(inPlace: &ref) }
        if let pool = c.pool { ref = try Kernels.pool(pool.kind, ref, pool.attributes) }
        let packed = PackedFilter(w, groups: c.attrs.group)
        for threads in [1, 2] {
            for pre in [nil, packed] {
                let got = try Kernels.conv(x, weight: w, bias: b, c.attrs, activation: c.activation, pool: c.pool,
                                           packed: pre, path: path, threads: threads)
                #expect(got.shape == ref.shape)
                let scale = max(1, ref.scalars.map { abs($0) }.max() ?? 0)
                let worst = zip(got.scalars, ref.scalars).map { abs($0 - $1) }.max() ?? .infinity
                #expect(worst <= 1e-4 * scale, "\(c) on \(path), \(threads) threads: max|Δ| \(worst)")
            }
        }
    }

    /// The Winograd cases above really take the Winograd path (it is not silently skipped), and
    /// tiny outputs, strides, dilations and groups stay direct.
    @Test func winogradIsChosenWhereItPays() throws {
        let plan = { (x: [Int], w: [Int], a: ConvAttributes) in try ConvPlan(input: x, weight: w, attrs: a) }
        let names = Self.cases.filter { $0.name.hasPrefix("winograd") }
        #expect(names.count == 5)
        for c in names {
            #expect(try plan(c.x, c.w, c.attrs).winogradFits, "\(c)")
            #expect(PackedFilter(pseudoRandom(c.w, seed: 2), groups: 1, winograd: true).winograd != nil)
        }
        #expect(try !plan([1, 16, 3, 3], [16, 16, 3, 3], ConvAttributes(pads: [1, 1, 1, 1])).winogradFits)
        #expect(try !plan([1, 16, 9, 9], [16, 16, 3, 3], ConvAttributes(strides: [2, 2])).winogradFits)
        #expect(try !plan([1, 16, 9, 9], [16, 16, 3, 3], ConvAttributes(dilations: [2, 2])).winogradFits)
        #expect(try !plan([1, 16, 9, 9], [16, 8, 3, 3], ConvAttributes(group: 2)).winogradFits)
        #expect(try !plan([1, 4, 9, 9], [16, 4, 3, 3], ConvAttributes()).winogradFits)
        #expect(PackedFilter(pseudoRandom([16, 8, 3, 3], seed: 2), groups: 2, winograd: true).winograd == nil)
    }

    /// Which convs read no padding (and so run as an implicit GEMM), and that the implicit GEMM's
    /// offsets address exactly the elements im2col copies (element copies: compared exactly).
    @Test(arguments: [
        (x: [1, 3, 11, 10], w: [4, 3, 3, 3], attrs: ConvAttributes(), inside: true),
        (x: [1, 2, 12, 9], w: [4, 2, 3, 2], attrs: ConvAttributes(strides: [2, 3], dilations: [2, 1]), inside: true),
        (x: [1, 1, 700], w: [5, 1, 512], attrs: ConvAttributes(strides: [160]), inside: true),
        (x: [1, 4, 8, 8], w: [6, 2, 3, 3], attrs: ConvAttributes(group: 2), inside: true),
        (x: [1, 3, 11, 10], w: [4, 3, 3, 3], attrs: ConvAttributes(pads: [1, 1, 1, 1]), inside: false),
        (x: [1, 3, 11, 10], w: [4, 3, 3, 3], attrs: ConvAttributes(pads: [0, 0, 0, 1]), inside: false),
        (x: [1, 3, 11, 10], w: [4, 3, 3, 3], attrs: ConvAttributes(strides: [2, 2], pads: [1, 1, 1, 1]), inside: false),
        (x: [1, 2, 13, 17], w: [4, 2, 5, 3], attrs: ConvAttributes(strides: [2, 3], pads: [3, 0, 1, 2], dilations: [2, 1]),
         inside: false),
        (x: [1, 2, 30], w: [3, 2, 7], attrs: ConvAttributes(strides: [3], pads: [3, 2]), inside: false),
    ])
    func implicitOffsetsAddressWhatIm2colCopies(_ c: (x: [Int], w: [Int], attrs: ConvAttributes, inside: Bool)) throws {
        let p = try ConvPlan(input: c.x, weight: c.w, attrs: c.attrs)
        #expect(p.readsInside == c.inside)
        let x = pseudoRandom(c.x, seed: 4)
        var col = [Float](repeating: .nan, count: p.k * p.ohw)
        x.scalars.withUnsafeBufferPointer { xs in
            col.withUnsafeMutableBufferPointer { im2col(xs.baseAddress!, p, $0.baseAddress!, ld: p.ohw) }
        }
        // Read implicitly from the input itself, or (strided convs that read padding) from its
        // zero-bordered copy.
        var source = x.scalars
        var q = p
        if !c.inside {
            guard p.y.stride > 1 || p.x.stride > 1 else { return #expect(p.paddedInside == nil) }
            q = try #require(p.paddedInside)
            #expect(q.readsInside && q.ohw == p.ohw)
            source = [Float](repeating: .nan, count: q.cg * q.h * q.w)
            x.scalars.withUnsafeBufferPointer { xs in
                source.withUnsafeMutableBufferPointer { p.copyPadded(xs.baseAddress!, into: $0.baseAddress!, q) }
            }
        }
        let (rows, cols) = q.implicitOffsets()
        #expect(rows.count == p.k && cols.count == p.ohw)
        var mismatches = 0
        for r in 0..<p.k {
            for j in 0..<p.ohw where col[r * p.ohw + j] != source[rows[r] + cols[j]] { mismatches += 1 }
        }
        #expect(mismatches == 0)
    }

    static let convFixtures = OpFixture.all.filter { $0.case.hasPrefix("conv") && !$0.case.hasPrefix("convtranspose") }

    @Test func convFixturesArePresent() {
        #expect(Self.convFixtures.count >= 15)
        #expect(Self.convFixtures.filter { $0.case.hasPrefix("conv_winograd") }.count == 3)
    }

    /// onnxruntime's Conv op fixtures through a session on each path, at 1 and 2 threads.
    @Test(arguments: convFixtures, KernelPath.allCases)
    func convFixturesMatchOnnxruntime(_ fixture: OpFixture, _ path: KernelPath) throws {
        let graph = try Graph.load(contentsOf: OpFixture.directory + "/" + fixture.model)
        let arrays = try NPZ.read(URL(fileURLWithPath: OpFixture.directory + "/" + fixture.data))
        var feeds = [String: Value]()
        for i in fixture.inputs { feeds[i.name] = runtimeValue(try #require(arrays[i.name])) }
        for threads in [1, 2] {
            let out = try Session(graph: graph, options: SessionOptions(threads: threads, kernels: path)).run(values: feeds)
            for o in fixture.outputs {
                let ref = try #require(arrays[o.key ?? "out:\(o.name)"]).floats()
                let got = try #require(out[o.name]?.floatTensor)
                let scale = max(1, ref.map { abs($0) }.max() ?? 0)
                let worst = zip(got.scalars, ref).map { abs($0 - $1) }.max() ?? .infinity
                #expect(got.count == ref.count && worst <= 1e-4 * scale, "\(fixture) on \(path): max|Δ| \(worst)")
            }
        }
    }

    @Test func pathsParseAndLower() {
        #expect(KernelPath(name: "AVX2") == .avx2)
        #expect(KernelPath(name: "sse9") == nil)
        #expect(KernelPath.avx512.supported.rawValue <= KernelPath.detected.rawValue)
        #expect(KernelPath.blas.supported == .blas)
    }
}

/// The fusions real models need, counted on the prepared plans (their outputs are checked
/// against onnxruntime on every path by `RealModelTests`).
@Suite struct RealModelFusionTests {
    static func fusedOps(_ name: String) throws -> (plain: [String], fused: [Step]) {
        let model = try #require(RealModel.all.first { $0.name == name })
        let session = try Session(graph: try model.load())
        return (session.plain.steps.map(\.opType), session.fused.steps)
    }

    /// paddle2onnx's x · Clip(x + 3, 0, 6) / 6 becomes a HardSwish inside the Conv before it.
    @Test func paddleHardSwishChainsFuseIntoConv() throws {
        let (plain, fused) = try Self.fusedOps("ocr-cls-mobile-v2")
        #expect(plain.filter { $0 == "Clip" }.count == 18)
        #expect(fused.filter { $0.opType == "Clip" || $0.opType == "Div" }.isEmpty)
        let hardSwishConvs = fused.filter {
            if case .conv(_, .some(.hardSwish), _, _) = $0.op { return true } else { return false }
        }
        #expect(hardSwishConvs.count == 18)
    }

    /// paddle2onnx's learnable affine blocks (Mul and Add by scalar constants before and after
    /// each hard-swish) and its Swish blocks run in the Conv's epilogue: no Conv output is read
    /// by such a step.
    @Test func paddleAffineBlocksFuseIntoConv() throws {
        let model = try #require(RealModel.all.first { $0.name == "ocr-rec-ppocrv4" })
        let session = try Session(graph: try model.load())
        let plan = session.fused
        let convOutputs = Set(plan.steps.filter { if case .conv = $0.op { true } else { false } }.flatMap(\.outputs))
        let leftover = plan.steps.filter { step in
            guard case .binary = step.op, let x = step.inputs.first(where: convOutputs.contains) else { return false }
            return Session.scalarAffine(step, of: x, constants: plan.constants, maxRank: 4) != nil
        }
        #expect(leftover.isEmpty, "\(leftover.map(\.name))")
        let affineConvs = plan.steps.filter { step in
            guard case .conv(_, let act?, _, _) = step.op else { return false }
            return "\(act)".contains("affine")
        }
        #expect(affineConvs.count >= 25, "\(affineConvs.count)")
        // Its Swish blocks, x · Sigmoid(x · 1), as well.
        let swishConvs = plan.steps.filter { step in
            guard case .conv(_, let act?, _, _) = step.op else { return false }
            return "\(act)".contains("swish(beta: 1.0)")
        }
        #expect(swishConvs.count >= 4, "\(swishConvs.count)")
        #expect(session.plain.steps.count - plan.steps.count >= 150, "\(session.plain.steps.count) → \(plan.steps.count)")
    }

    /// tf2onnx's Conv → LeakyRelu → Max(·, constant) becomes one Conv step with both activations.
    @Test func leakyReluThenMaxFusesIntoConv() throws {
        let (plain, fused) = try Self.fusedOps("oww-embedding")
        #expect(plain.filter { $0 == "Max" }.count == 19)
        #expect(fused.filter { $0.opType == "Max" || $0.opType == "LeakyRelu" }.isEmpty)
        let chained = fused.filter {
            if case .conv(_, .some(.then(.leakyRelu, .clip)), _, _) = $0.op { return true } else { return false }
        }
        #expect(chained.count == 19)
    }
}
