import COpenBLAS
import Foundation
import ShrinkTensor

/// ONNX `auto_pad` for Conv and the pools.
public enum AutoPad: String, Sendable, Equatable {
    /// Explicit `pads`.
    case notSet = "NOTSET"
    /// Output size ceil(in/stride); odd padding goes at the end.
    case sameUpper = "SAME_UPPER"
    /// Output size ceil(in/stride); odd padding goes at the beginning.
    case sameLower = "SAME_LOWER"
    /// No padding.
    case valid = "VALID"
}

/// Attributes of `Conv`; absent lists take ONNX defaults for the kernel's spatial rank.
public struct ConvAttributes: Sendable, Equatable {
    /// Spatial kernel size; taken from the weight when nil.
    public var kernelShape: [Int]?
    /// Strides per spatial axis (default 1).
    public var strides: [Int]?
    /// Begin pads then end pads, `[x1_begin, x2_begin, …, x1_end, x2_end, …]` (default 0).
    public var pads: [Int]?
    /// Dilations per spatial axis (default 1).
    public var dilations: [Int]?
    /// Number of groups; `group == C` is depthwise.
    public var group: Int
    /// Automatic padding mode.
    public var autoPad: AutoPad

    /// Attributes with ONNX defaults unless given.
    public init(kernelShape: [Int]? = nil, strides: [Int]? = nil, pads: [Int]? = nil, dilations: [Int]? = nil,
                group: Int = 1, autoPad: AutoPad = .notSet) {
        self.kernelShape = kernelShape; self.strides = strides; self.pads = pads
        self.dilations = dilations; self.group = group; self.autoPad = autoPad
    }
}

/// One spatial axis of a sliding window: sizes, stride, dilation, begin pad, output size.
struct WindowAxis: Equatable {
    var input: Int, kernel: Int, stride: Int, dilation: Int, padBegin: Int, padEnd: Int, output: Int
}

/// Resolves the window geometry of Conv/pools (auto_pad, pads, ceil_mode) per spatial axis.
func windowGeometry(input: [Int], kernel: [Int], strides: [Int]?, pads: [Int]?, dilations: [Int]?,
                    autoPad: AutoPad, ceilMode: Bool = false) throws -> [WindowAxis] {
    let r = input.count
    let s = strides ?? [Int](repeating: 1, count: r)
    let d = dilations ?? [Int](repeating: 1, count: r)
    let p = pads ?? [Int](repeating: 0, count: 2 * r)
    guard kernel.count == r, s.count == r, d.count == r, p.count == 2 * r else {
        throw KernelError("kernel_shape \(kernel), strides \(s), dilations \(d) or pads \(p) do not fit \(r) spatial axes")
    }
    let limit = 1 << 31   // keeps the index arithmetic below far from overflow
    guard s.allSatisfy({ $0 > 0 && $0 < limit }), d.allSatisfy({ $0 > 0 && $0 < limit }),
          kernel.allSatisfy({ $0 > 0 && $0 < limit }), p.allSatisfy({ $0 >= 0 && $0 < limit }),
          input.allSatisfy({ $0 < limit }) else {
        throw KernelError("kernel_shape \(kernel), strides \(s), dilations \(d) and pads \(p) must be positive")
    }
    var axes = [WindowAxis]()
    for i in 0..<r {
        let ext = (kernel[i] - 1) * d[i] + 1
        var pb = p[i], pe = p[i + r], out: Int
        switch autoPad {
        case .notSet:
            let span = input[i] + pb + pe - ext
            guard span >= 0 else {
                throw KernelError("window \(ext) is larger than the padded input \(input[i] + pb + pe) on spatial axis \(i)")
            }
            if ceilMode {
                out = (span + s[i] - 1) / s[i] + 1
                // The last window must start inside the input or its left padding (PyTorch/onnxruntime).
                if (out - 1) * s[i] >= input[i] + pb { out -= 1 }
            } else {
                out = span / s[i] + 1
            }
        case .valid:
            pb = 0; pe = 0
            guard input[i] >= ext else { throw KernelError("window \(ext) is larger than the input \(input[i])") }
            out = (input[i] - ext) / s[i] + 1
        case .sameUpper, .sameLower:
            out = (input[i] + s[i] - 1) / s[i]
            let total = max(0, (out - 1) * s[i] + ext - input[i])
            pb = autoPad == .sameUpper ? total / 2 : total - total / 2
            pe = total - pb
        }
        axes.append(WindowAxis(input: input[i], kernel: kernel[i], stride: s[i], dilation: d[i],
                               padBegin: pb, padEnd: pe, output: out))
    }
    return axes
}

/// For output positions 0..<out on one axis with kernel tap offset `tap` (= k·dilation − padBegin):
/// the half-open range of positions whose input index `o·stride + tap` lies inside [0, input).
@inline(__always)
func validRange(out: Int, stride: Int, tap: Int, input: Int) -> (Int, Int) {
    // lo = ceil(-tap / stride), hi = ceil((input - tap) / stride), clamped to [0, out].
    func ceilDiv(_ a: Int, _ b: Int) -> Int { a >= 0 ? (a + b - 1) / b : -((-a) / b) }
    let lo = max(0, ceilDiv(-tap, stride))
    let hi = min(out, ceilDiv(input - tap, stride))
    return (lo, max(lo, hi))
}

/// A 2-D view of Conv geometry (1-D convs are 2-D with height 1).
struct ConvPlan {
    var n: Int, c: Int, h: Int, w: Int
    var m: Int, group: Int, kh: Int, kw: Int
    var y: WindowAxis, x: WindowAxis
    var cg: Int { c / group }
    var mg: Int { m / group }
    var k: Int { cg * kh * kw }
    var ohw: Int { y.output * x.output }
    var outShape1D: Bool

    init(input: [Int], weight: [Int], attrs: ConvAttributes) throws {
        guard input.count == 3 || input.count == 4 else {
            throw KernelError("Conv supports 1-D and 2-D inputs ([N, C, W] or [N, C, H, W]), got shape \(input)")
        }
        guard weight.count == input.count else {
            throw KernelError("Conv weight shape \(weight) does not match input rank \(input.count)")
        }
        let spatial = Array(input.dropFirst(2))
        let kernel = attrs.kernelShape ?? Array(weight.dropFirst(2))
        guard kernel == Array(weight.dropFirst(2)) else {
            throw KernelError("kernel_shape \(kernel) disagrees with weight shape \(weight)")
        }
        let g = attrs.group
        guard g >= 1, input[1] % g == 0, weight[0] % g == 0, weight[1] * g == input[1] else {
            throw KernelError("Conv with group \(g): input channels \(input[1]) and weight shape \(weight) do not fit")
        }
        let geo = try windowGeometry(input: spatial, kernel: kernel, strides: attrs.strides, pads: attrs.pads,
                                     dilations: attrs.dilations, autoPad: attrs.autoPad)
        n = input[0]; c = input[1]; m = weight[0]; group = g
        if geo.count == 1 {
            outShape1D = true
            h = 1; w = spatial[0]; kh = 1; kw = kernel[0]
            y = WindowAxis(input: 1, kernel: 1, stride: 1, dilation: 1, padBegin: 0, padEnd: 0, output: 1)
            x = geo[0]
        } else {
            outShape1D = false
            h = spatial[0]; w = spatial[1]; kh = kernel[0]; kw = kernel[1]
            y = geo[0]; x = geo[1]
        }
    }

    var outputShape: [Int] { outShape1D ? [n, m, x.output] : [n, m, y.output, x.output] }
    var isPointwise: Bool {
        kh == 1 && kw == 1 && y.stride == 1 && x.stride == 1 && y.padBegin == 0 && x.padBegin == 0
            && y.padEnd == 0 && x.padEnd == 0
    }
    var isDepthwise: Bool { group == c && cg == 1 && group > 1 }

    /// Winograd F(2×2, 3×3) applies (3×3, stride 1, dilation 1, one group, enough channels) and
    /// pays: its 2×2 tiles cost 16 products where the direct conv needs 9 per output, so tiny or
    /// thin outputs, whose tiles are mostly padding, stay direct.
    var winogradFits: Bool {
        let th = (y.output + 1) / 2, tw = (x.output + 1) / 2
        return !outShape1D && Kernels.winogradFits(kernel: [kh, kw], strides: [y.stride, x.stride],
                                                   dilations: [y.dilation, x.dilation], group: group, c: c, m: m)
            && th * tw * 16 * 4 <= y.output * x.output * 9 * 3
    }
}

extension Kernels {
    /// Whether `SHRINK_WINOGRAD=0` turned Winograd off (for comparisons).
    static let winogradEnabled = ProcessInfo.processInfo.environment["SHRINK_WINOGRAD"] != "0"

    /// Whether a conv of this geometry runs Winograd F(2×2, 3×3) on the own kernels (the output
    /// size is checked at run time as well).
    static func winogradFits(kernel: [Int], strides: [Int], dilations: [Int], group: Int, c: Int, m: Int) -> Bool {
        winogradEnabled && kernel == [3, 3] && strides.allSatisfy { $0 == 1 } && dilations.allSatisfy { $0 == 1 }
            && group == 1 && c >= 8 && m >= 8
    }

    /// `winogradFits` for a Conv's attributes and weight shape, before the input shape is known.
    public static func winogradFits(_ attrs: ConvAttributes, weight: [Int]) -> Bool {
        guard weight.count == 4 else { return false }
        return winogradFits(kernel: Array(weight.dropFirst(2)), strides: attrs.strides ?? [1, 1],
                            dilations: attrs.dilations ?? [1, 1], group: attrs.group, c: weight[1], m: weight[0])
    }
}

/// Writes the im2col matrix of one image's channel group: row (ci, ky, kx), columns the output
/// positions, placed at `dst` with leading dimension `ld` so several images can share one matrix.
/// `rows` limits it to the columns of those output rows (parts of one image split over cores).
extension ConvPlan {
    /// Whether every tap of every output position reads inside the input, so no padding is read
    /// (an STFT's strided filter bank, LeNet's 5×5s, a Tucker-2 core without pads).
    var readsInside: Bool {
        for a in [y, x] where a.output > 0 {
            if a.padBegin != 0 || (a.output - 1) * a.stride + (a.kernel - 1) * a.dilation >= a.input { return false }
        }
        return ohw > 0
    }

    /// The plan of the same conv over a zero-bordered copy of the input that every tap reads
    /// inside (pads moved into the copy); nil when the copy would not pay: when no padding is
    /// read, for stride 1 (im2col copies whole rows there; the padded copy measured 5–15 % slower
    /// on the wake-word embedding's 1×3s), or when the copy would be larger than im2col's matrix.
    /// Strided convs (the stems of PP-OCR) run 15–20 % faster from the copy.
    var paddedInside: ConvPlan? {
        guard !readsInside, ohw > 0, y.stride > 1 || x.stride > 1 else { return nil }
        var q = self
        func extent(_ a: WindowAxis) -> Int { max(a.input + a.padBegin, (a.output - 1) * a.stride + (a.kernel - 1) * a.dilation + 1) }
        q.h = extent(y); q.w = extent(x)
        q.y.input = q.h; q.x.input = q.w
        q.y.padBegin = 0; q.x.padBegin = 0; q.y.padEnd = 0; q.x.padEnd = 0
        guard q.readsInside, q.h * q.w <= kh * kw * ohw else { return nil }
        return q
    }

    /// Copies one channel group's planes (cg × h × w at `src`) into `dst` laid out as `padded`'s
    /// input, with this plan's leading pads and zeros around.
    func copyPadded(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, _ padded: ConvPlan) {
        let hp = padded.h, wp = padded.w, top = y.padBegin, left = x.padBegin
        dst.initialize(repeating: 0, count: cg * hp * wp)
        let rows = min(h, hp - top), cols = min(w, wp - left)
        guard rows > 0, cols > 0 else { return }
        for ci in 0..<cg {
            for r in 0..<rows {
                (dst + (ci * hp + top + r) * wp + left).update(from: src + (ci * h + r) * w, count: cols)
            }
        }
    }

    /// The implicit GEMM's offsets into one channel group's input: per im2col row (channel, tap y,
    /// tap x) and per output position (row-major), their sum is the element that row and column
    /// read. Valid when `readsInside`.
    func implicitOffsets() -> (rows: [Int], cols: [Int]) {
        var rows = [Int]()
        rows.reserveCapacity(k)
        for ci in 0..<cg {
            for ky in 0..<kh {
                for kx in 0..<kw { rows.append(ci * h * w + ky * y.dilation * w + kx * x.dilation) }
            }
        }
        var cols = [Int]()
        cols.reserveCapacity(ohw)
        for oy in 0..<y.output {
            for ox in 0..<x.output { cols.append(oy * y.stride * w + ox * x.stride) }
        }
        return (rows, cols)
    }
}

func im2col(_ src: UnsafePointer<Float>, _ p: ConvPlan, _ dst: UnsafeMutablePointer<Float>, ld: Int,
            rows: Range<Int>? = nil) {
    let oh = p.y.output, ow = p.x.output
    let rows = rows ?? 0..<oh
    if p.x.stride == 1 && p.y.stride == 1 && ow == p.w {
        im2colSameWidth(src, p, dst, ld: ld, rows: rows)
        return
    }
    if p.x.stride == 1 && p.y.stride == 1 && p.y.padBegin == 0 && p.x.padBegin == 0
        && oh == p.h - p.y.dilation * (p.kh - 1) && ow == p.w - p.x.dilation * (p.kw - 1) {
        im2colValid(src, p, dst, ld: ld, rows: rows)
        return
    }
    var row = 0
    for ci in 0..<p.cg {
        let plane = src + ci * p.h * p.w
        for ky in 0..<p.kh {
            let tapY = ky * p.y.dilation - p.y.padBegin
            let (yLo, yHi) = validRange(out: oh, stride: p.y.stride, tap: tapY, input: p.h)
            for kx in 0..<p.kw {
                let tapX = kx * p.x.dilation - p.x.padBegin
                let (xLo, xHi) = validRange(out: ow, stride: p.x.stride, tap: tapX, input: p.w)
                let out = dst + row * ld
                for oy in rows {
                    let o = out + oy * ow
                    // Rows are short (often 8–32 floats), so plain loops beat memcpy/memset calls.
                    if oy < yLo || oy >= yHi {
                        for ox in 0..<ow { o[ox] = 0 }
                        continue
                    }
                    let line = plane + (oy * p.y.stride + tapY) * p.w + tapX
                    for ox in 0..<xLo { o[ox] = 0 }
                    if p.x.stride == 1 {
                        for ox in xLo..<xHi { o[ox] = line[ox] }
                    } else {
                        let s = p.x.stride
                        for ox in xLo..<xHi { o[ox] = line[ox * s] }
                    }
                    for ox in xHi..<ow { o[ox] = 0 }
                }
                row += 1
            }
        }
    }
}

/// im2col for unpadded stride-1 convs (LeNet's 5×5s, the cores of Tucker-2): every tap reads
/// inside the image, so each output row is a plain copy — no range checks, no zeroing — done
/// eight floats at a time (the rows are short: 8 floats for conv2 of LeNet).
func im2colValid(_ src: UnsafePointer<Float>, _ p: ConvPlan, _ dst: UnsafeMutablePointer<Float>, ld: Int,
                 rows: Range<Int>) {
    let ow = p.x.output, w = p.w, plane = p.h &* p.w
    var row = 0
    for ci in 0..<p.cg {
        let base = src + ci &* plane
        for ky in 0..<p.kh {
            for kx in 0..<p.kw {
                var from = base + (ky &* p.y.dilation &+ rows.lowerBound) &* w + kx &* p.x.dilation
                var to = dst + row &* ld + rows.lowerBound &* ow
                row &+= 1
                for _ in rows {
                    copyFloats(to, from, ow)
                    from += w
                    to += ow
                }
            }
        }
    }
}

/// Copies `count` floats, eight at a time while it can (unaligned vector loads and stores).
@inline(__always)
func copyFloats(_ to: UnsafeMutablePointer<Float>, _ from: UnsafePointer<Float>, _ count: Int) {
    let d = UnsafeMutableRawPointer(to), s = UnsafeRawPointer(from)
    var i = 0
    while i &+ 8 <= count {
        d.storeBytes(of: s.loadUnaligned(fromByteOffset: i &* 4, as: SIMD8<Float>.self), toByteOffset: i &* 4, as: SIMD8<Float>.self)
        i &+= 8
    }
    while i < count {
        to[i] = from[i]
        i &+= 1
    }
}

/// im2col for stride-1 convs with output width = input width (3×3 pad 1, 5×5 pad 2, …): each
/// (channel, tap) row is the input plane shifted by a constant offset, so it is one memcpy plus
/// zeroing the few columns that wrapped around from the neighbouring image row.
func im2colSameWidth(_ src: UnsafePointer<Float>, _ p: ConvPlan, _ dst: UnsafeMutablePointer<Float>, ld: Int,
                     rows: Range<Int>) {
    let oh = p.y.output, ow = p.x.output, plane = p.h * p.w
    let r0 = rows.lowerBound, r1 = rows.upperBound
    var row = 0
    for ci in 0..<p.cg {
        let base = src + ci * plane
        for ky in 0..<p.kh {
            let tapY = ky * p.y.dilation - p.y.padBegin
            var (yLo, yHi) = validRange(out: oh, stride: 1, tap: tapY, input: p.h)
            yLo = min(max(yLo, r0), r1); yHi = max(min(yHi, r1), yLo)
            for kx in 0..<p.kw {
                let tapX = kx * p.x.dilation - p.x.padBegin
                let out = dst + row * ld
                row += 1
                if yHi <= yLo || abs(tapX) >= ow {
                    (out + r0 * ow).update(repeating: 0, count: (r1 - r0) * ow)
                    continue
                }
                if yLo > r0 { (out + r0 * ow).update(repeating: 0, count: (yLo - r0) * ow) }
                if yHi < r1 { (out + yHi * ow).update(repeating: 0, count: (r1 - yHi) * ow) }
                var d = yLo * ow, n = (yHi - yLo) * ow
                var s = (yLo + tapY) * p.w + tapX
                if s < 0 { d -= s; n += s; s = 0 }   // skipped elements are wrapped columns, zeroed below
                if s + n > plane { n = plane - s }
                (out + d).update(from: base + s, count: n)
                if tapX < 0 {
                    for oy in yLo..<yHi { for ox in 0..<(-tapX) { out[oy * ow + ox] = 0 } }
                } else if tapX > 0 {
                    for oy in yLo..<yHi { for ox in (ow - tapX)..<ow { out[oy * ow + ox] = 0 } }
                }
            }
        }
    }
}

extension Kernels {
    /// A pool applied to a Conv's output inside the Conv kernel (executor fusion of Conv → Pool).
    public struct FusedPool: Sendable, Equatable {
        /// Max or average.
        public var kind: PoolKind
        /// The pool's attributes.
        public var attributes: PoolAttributes
        /// Wraps a pool.
        public init(kind: PoolKind, attributes: PoolAttributes) { self.kind = kind; self.attributes = attributes }
    }

    /// `Conv` (1-D/2-D, groups, depthwise, strides, pads, dilations, auto_pad) with an optional
    /// fused activation and an optional fused pool on the result.
    ///
    /// Pointwise convs are one GEMM per image on the input itself; depthwise convs are direct loops
    /// (a GEMM per channel would be tiny); the rest is im2col over a few images at once, sized so
    /// that the column buffer stays in L2 between im2col and the GEMM. With `pool`, each image
    /// group is pooled while still in cache, so the full-size activation never goes to memory.
    ///
    /// `path` picks the kernels (default: the best the CPU has, or `SHRINK_KERNELS`); `packed` is
    /// the weight already packed for them (made here when nil); `threads` > 1 splits large GEMMs
    /// by columns.
    public static func conv(_ input: Tensor, weight: Tensor, bias: Tensor?, _ attrs: ConvAttributes,
                            activation: Activation? = nil, pool: FusedPool? = nil, packed: PackedFilter? = nil,
                            path: KernelPath = .selected, threads: Int = 1) throws -> Tensor {
        let p = try ConvPlan(input: input.shape, weight: weight.shape, attrs: attrs)
        if let bias, bias.count != p.m {
            throw KernelError("Conv bias has \(bias.count) elements, expected \(p.m)")
        }
        var outShape = p.outputShape
        var poolGeo: (WindowAxis, WindowAxis)?
        if let pool {
            let g = try poolGeometry(Array(outShape.dropFirst(2)), pool.attributes)
            poolGeo = g
            outShape = Array(outShape.prefix(2)) + (p.outShape1D ? [g.1.output] : [g.0.output, g.1.output])
        }
        var out = [Float](repeating: 0, count: try checkedCount(outShape, "Conv output"))
        if out.isEmpty { return Tensor(shape: outShape, scalars: out) }
        let biasValues = bias?.scalars
        let path = path.supported
        var own: ConvKernels?
        if path != .blas {
            let filter = packed.flatMap { $0.shape == weight.shape && $0.groups == p.group ? $0 : nil }
                ?? (p.isDepthwise ? nil : PackedFilter(weight, groups: p.group,
                                                        winograd: winogradFits(attrs, weight: weight.shape)))
            own = ConvKernels(path: path, packed: filter, threads: max(1, threads))
        }
        input.scalars.withUnsafeBufferPointer { xb in
            weight.scalars.withUnsafeBufferPointer { wb in
                out.withUnsafeMutableBufferPointer { ob in
                    let x = xb.baseAddress!, w = wb.baseAddress!, o = ob.baseAddress!
                    guard let pool, let (gy, gx) = poolGeo else {
                        convImages(x, w, o, p, bias: biasValues, activation: activation, own: own)
                        return
                    }
                    // Chunks of images through a scratch buffer sized like one im2col group.
                    let per = imagesPerGroup(p)
                    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: per * p.m * p.ohw)
                    defer { scratch.deallocate() }
                    let inImage = p.c * p.h * p.w, pooledImage = p.m * gy.output * gx.output
                    var i0 = 0
                    while i0 < p.n {
                        let nb = min(per, p.n - i0)
                        var sub = p
                        sub.n = nb
                        convImages(x + i0 * inImage, w, scratch, sub, bias: biasValues, activation: activation, own: own)
                        let planes = nb * p.m, parts = threads > 1 && planes * p.ohw >= 1 << 14 ? min(threads, planes) : 1
                        let planeIn = p.ohw, planeOut = gy.output * gx.output
                        let src = scratch, dst = o + i0 * pooledImage
                        parallelParts(parts) { t in
                            let lo = planes * t / parts, hi = planes * (t + 1) / parts
                            poolPlanes(pool.kind, gy, gx, countIncludePad: pool.attributes.countIncludePad,
                                       src: src + lo * planeIn, planes: hi - lo, dst: dst + lo * planeOut)
                        }
                        i0 += nb
                    }
                }
            }
        }
        return Tensor(shape: outShape, scalars: out)
    }

    /// Conv of `p.n` images from `x` into `o` (NCHW), bias and activation included.
    static func convImages(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>,
                           _ p: ConvPlan, bias: [Float]?, activation: Activation?, own: ConvKernels? = nil) {
        if let own {
            own.run(x, w, o, p, bias: bias, activation: activation)
            return
        }
        // Bias and activation are applied per image group right after its GEMM, while that
        // output is still in cache.
        let finish = { (i0: Int, nb: Int) in
            finishChannels(o + i0 * p.m * p.ohw, n: nb, channels: p.m, plane: p.ohw, bias: bias, activation: activation)
        }
        if p.isDepthwise {
            convDepthwise(x, w, o, p, finish)
        } else if p.isPointwise && p.group == 1 {
            for i in 0..<p.n {
                let out = o + i * p.m * p.ohw
                out.update(repeating: 0, count: p.m * p.ohw)  // β = 1 on zeros: no OpenBLAS β pass
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(p.m), Int32(p.ohw), Int32(p.c),
                            1, w, Int32(p.c), x + i * p.c * p.ohw, Int32(p.ohw),
                            1, out, Int32(p.ohw))
                finish(i, 1)
            }
        } else {
            convIm2col(x, w, o, p, finish)
        }
    }

    /// Adds a per-channel bias and applies an activation over NC(plane) data in one pass.
    static func finishChannels(_ o: UnsafeMutablePointer<Float>, n: Int, channels: Int, plane: Int,
                               bias: [Float]?, activation: Activation?) {
        if bias == nil && activation == nil { return }
        bias.withOptionalBuffer { b in
            for i in 0..<n {
                for ch in 0..<channels {
                    let q = o + (i * channels + ch) * plane
                    let v = b?[ch] ?? 0
                    if activation == .relu {
                        for j in 0..<plane { q[j] = Swift.max(q[j] + v, 0) }
                        continue
                    }
                    if b != nil { for j in 0..<plane { q[j] += v } }
                    activation?.apply(q, count: plane)
                }
            }
        }
    }

    /// Columns per GEMM to aim for, and the column-buffer size (floats) not to exceed.
    /// (Measured on the VGG benchmark: 128–512 columns are within noise of each other; 64 and
    /// ≥ 1024 are slower. `SHRINK_CONV_WIDTH` / `SHRINK_CONV_BUDGET` override them for tuning.)
    static let im2colTarget = Int(ProcessInfo.processInfo.environment["SHRINK_CONV_WIDTH"] ?? "") ?? 256
    static let im2colBudget = Int(ProcessInfo.processInfo.environment["SHRINK_CONV_BUDGET"] ?? "") ?? (192 << 10)

    /// Images per im2col group: doubled until the GEMM has `im2colTarget` columns or the column
    /// buffer would exceed `im2colBudget` floats.
    static func imagesPerGroup(_ p: ConvPlan) -> Int {
        var per = 1
        while per < p.n && per * p.ohw < im2colTarget && (2 * per) * p.ohw * p.k <= im2colBudget { per *= 2 }
        return max(1, min(per, p.n))
    }

    private static func convIm2col(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                   _ o: UnsafeMutablePointer<Float>, _ p: ConvPlan, _ finish: (Int, Int) -> Void) {
        let k = p.k, ohw = p.ohw, mg = p.mg
        // Images per GEMM: enough columns for OpenBLAS to run near peak, few enough that the
        // column buffer stays in L2 between im2col and the GEMM.
        let per = p.group > 1 ? 1 : imagesPerGroup(p)
        let width = per * ohw
        let col = UnsafeMutablePointer<Float>.allocate(capacity: k * width)
        defer { col.deallocate() }
        let tmp: UnsafeMutablePointer<Float>? = per > 1 ? .allocate(capacity: p.m * width) : nil
        defer { tmp?.deallocate() }
        let inImage = p.c * p.h * p.w, outImage = p.m * ohw
        var i0 = 0
        while i0 < p.n {
            let nb = min(per, p.n - i0)
            for g in 0..<p.group {
                for j in 0..<nb {
                    im2col(x + (i0 + j) * inImage + g * p.cg * p.h * p.w, p, col + j * ohw, ld: nb * ohw)
                }
                let wg = w + g * mg * k
                // β = 1 on a zeroed output: the same sums as β = 0, but OpenBLAS skips its β pass
                // over C, which cost more than a memset for these small GEMMs (6 % of a search).
                if nb == 1 {
                    let out = o + i0 * outImage + g * mg * ohw
                    out.update(repeating: 0, count: mg * ohw)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(mg), Int32(ohw), Int32(k),
                                1, wg, Int32(k), col, Int32(ohw), 1, out, Int32(ohw))
                } else {
                    let t = tmp!
                    let cols = nb * ohw
                    t.update(repeating: 0, count: mg * cols)
                    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(mg), Int32(cols), Int32(k),
                                1, wg, Int32(k), col, Int32(cols), 1, t, Int32(cols))
                    // Scatter [M, nb·OHW] back to NCHW.
                    for ch in 0..<mg {
                        for j in 0..<nb {
                            (o + (i0 + j) * outImage + (g * mg + ch) * ohw).update(from: t + ch * cols + j * ohw, count: ohw)
                        }
                    }
                }
            }
            finish(i0, nb)
            i0 += nb
        }
    }

    private static func convDepthwise(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>,
                                      _ o: UnsafeMutablePointer<Float>, _ p: ConvPlan, _ finish: (Int, Int) -> Void) {
        let oh = p.y.output, ow = p.x.output, mg = p.mg
        for i in 0..<p.n {
            for ch in 0..<p.m {
                let plane = x + (i * p.c + ch / mg) * p.h * p.w
                let out = o + (i * p.m + ch) * p.ohw
                let ker = w + ch * p.kh * p.kw
                for ky in 0..<p.kh {
                    let tapY = ky * p.y.dilation - p.y.padBegin
                    let (yLo, yHi) = validRange(out: oh, stride: p.y.stride, tap: tapY, input: p.h)
                    for kx in 0..<p.kw {
                        let tapX = kx * p.x.dilation - p.x.padBegin
                        let (xLo, xHi) = validRange(out: ow, stride: p.x.stride, tap: tapX, input: p.w)
                        let wv = ker[ky * p.kw + kx]
                        if xHi <= xLo { continue }
                        for oy in yLo..<yHi {
                            let line = plane + (oy * p.y.stride + tapY) * p.w + tapX
                            let q = out + oy * ow
                            if p.x.stride == 1 {
                                for ox in xLo..<xHi { q[ox] += wv * line[ox] }
                            } else {
                                let s = p.x.stride
                                for ox in xLo..<xHi { q[ox] += wv * line[ox * s] }
                            }
                        }
                    }
                }
            }
            finish(i, 1)
        }
    }
}

extension Optional where Wrapped == [Float] {
    /// Calls `body` with an unsafe buffer over the array, or nil.
    @inline(__always)
    func withOptionalBuffer<R>(_ body: (UnsafePointer<Float>?) -> R) -> R {
        switch self {
        case .none: return body(nil)
        case .some(let a): return a.withUnsafeBufferPointer { body($0.baseAddress) }
        }
    }
}
