import CKernels
import Dispatch
import Foundation
import ShrinkTensor

/// Conv on Shrink's own kernels: 1×1 convs are one packed GEMM per image on the input in place;
/// convs that read no padding, and strided ones over a zero-bordered copy, are implicit GEMMs
/// (the input read through offsets, no im2col matrix); the rest write im2col columns; 3×3s with
/// enough channels run Winograd; depthwise convs run the SIMD plane kernel. Bias and relu are
/// applied as each tile is stored, other activations per block while it is in cache.
struct ConvKernels {
    var path: KernelPath
    /// The packed weight; nil only for depthwise convs, which read the weight as it is.
    var packed: PackedFilter?
    var threads: Int

    func run(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>, _ p: ConvPlan,
             bias: [Float]?, activation: Activation?) {
        let relu = activation == .relu
        let rest = relu ? nil : activation
        let finish = { (i0: Int, nb: Int) in
            guard let rest else { return }
            Kernels.finishChannels(o + i0 * p.m * p.ohw, n: nb, channels: p.m, plane: p.ohw, bias: nil, activation: rest)
        }
        bias.withOptionalBuffer { b in
            if p.isDepthwise {
                depthwise(x, w, o, p, bias: b, relu: relu, rest: rest)
            } else if p.isPointwise && p.group == 1, let f = packed {
                for i in 0..<p.n {
                    let out = o + i * p.m * p.ohw
                    Kernels.packedGemm(path, m: p.m, n: p.ohw, k: p.c, f.group(0), x + i * p.c * p.ohw, ldb: p.ohw,
                                       out, ldc: p.ohw, bias: b, relu: relu, threads: threads,
                                       epilogue: rest.map { act in Self.activate(act, out, ld: p.ohw) })
                }
            } else if let f = packed, let u = f.winograd, p.winogradFits {
                winograd(x, u, o, p, bias: b, relu: relu, rest: rest, finish)
            } else if let f = packed {
                im2colGemm(x, f, o, p, bias: b, relu: relu, rest: rest, finish)
            }
        }
    }

    /// An epilogue applying `activation` to a block (rows, columns) of the M×N result at `c`.
    private static func activate(_ activation: Activation, _ c: UnsafeMutablePointer<Float>,
                                 ld: Int) -> (Range<Int>, Range<Int>) -> Void {
        { rows, columns in
            for r in rows { activation.apply(c + r * ld + columns.lowerBound, count: columns.count) }
        }
    }

    private func im2colGemm(_ x: UnsafePointer<Float>, _ f: PackedFilter, _ o: UnsafeMutablePointer<Float>, _ p: ConvPlan,
                            bias: UnsafePointer<Float>?, relu: Bool, rest: Activation?, _ finish: (Int, Int) -> Void) {
        let k = p.k, ohw = p.ohw, mg = p.mg
        let per = p.group > 1 ? 1 : Kernels.imagesPerGroup(p)
        let inImage = p.c * p.h * p.w, outImage = p.m * ohw
        // An implicit GEMM when no tap reads padding (offsets into the input itself), or for a
        // strided conv over a zero-bordered copy of each image's channel group (cg·Hp·Wp floats,
        // about a k-th of what im2col writes).
        if per == 1, let q = p.readsInside ? p : p.paddedInside {
            let (rows, cols) = q.implicitOffsets()
            let copy: UnsafeMutablePointer<Float>? = p.readsInside ? nil : .allocate(capacity: max(1, q.cg * q.h * q.w))
            defer { copy?.deallocate() }
            rows.withUnsafeBufferPointer { r in
                cols.withUnsafeBufferPointer { c in
                    for i in 0..<p.n {
                        for g in 0..<p.group {
                            var src = x + i * inImage + g * p.cg * p.h * p.w
                            if let copy {
                                p.copyPadded(src, into: copy, q)
                                src = UnsafePointer(copy)
                            }
                            implicitGemm(src, f.group(g), r.baseAddress!, c.baseAddress!, o + i * outImage + g * mg * ohw, q,
                                         bias: bias.map { $0 + g * mg }, relu: relu, rest: rest)
                        }
                    }
                }
            }
            return
        }
        if per == 1 && splitsRows(p) {
            // Image by image, each group split by output rows; the parts have matrices of their own.
            for i in 0..<p.n {
                for g in 0..<p.group {
                    rowParts(x + i * inImage + g * p.cg * p.h * p.w, f.group(g), o + i * outImage + g * mg * ohw, p,
                             bias: bias.map { $0 + g * mg }, relu: relu, rest: rest)
                }
            }
            return
        }
        let width = per * ohw
        let col = UnsafeMutablePointer<Float>.allocate(capacity: max(1, k * width))
        defer { col.deallocate() }
        let tmp: UnsafeMutablePointer<Float>? = per > 1 ? .allocate(capacity: p.m * width) : nil
        defer { tmp?.deallocate() }
        var i0 = 0
        while i0 < p.n {
            let nb = min(per, p.n - i0)
            let cols = nb * ohw
            for g in 0..<p.group {
                let gb = bias.map { $0 + g * mg }
                for j in 0..<nb {
                    im2col(x + (i0 + j) * inImage + g * p.cg * p.h * p.w, p, col + j * ohw, ld: cols)
                }
                if nb == 1 {
                    let out = o + i0 * outImage + g * mg * ohw
                    Kernels.packedGemm(path, m: mg, n: ohw, k: k, f.group(g), col, ldb: ohw, out, ldc: ohw, bias: gb,
                                       relu: relu, threads: threads, epilogue: rest.map { act in Self.activate(act, out, ld: ohw) })
                } else {
                    let t = tmp!
                    Kernels.packedGemm(path, m: mg, n: cols, k: k, f.group(g), col, ldb: cols, t, ldc: cols,
                                       bias: gb, relu: relu, threads: threads)
                    for ch in 0..<mg {
                        for j in 0..<nb {
                            (o + (i0 + j) * outImage + (g * mg + ch) * ohw).update(from: t + ch * cols + j * ohw, count: ohw)
                        }
                    }
                }
            }
            if nb > 1 { finish(i0, nb) }
            i0 += nb
        }
    }

    /// One image's channel group as an implicit GEMM (`shrink_sgemm_implicit`), split over the
    /// threads by 32-column panels of output positions when there are enough (each part gathers
    /// only its own columns), else by 8-row panels of output channels (`Kernels.splitProduct`).
    private func implicitGemm(_ x: UnsafePointer<Float>, _ packed: UnsafePointer<Float>, _ rows: UnsafePointer<Int>,
                              _ cols: UnsafePointer<Int>, _ out: UnsafeMutablePointer<Float>, _ p: ConvPlan,
                              bias: UnsafePointer<Float>?, relu: Bool, rest: Activation?) {
        let n = p.ohw, k = p.k, isa = path.isa
        let epilogue = rest.map { Self.activate($0, out, ld: n) }
        Kernels.splitProduct(m: p.mg, n: n, k: k, threads: threads, columnsFirst: true) { block, columns in
            let r0 = block.lowerBound
            shrink_sgemm_implicit(isa, block.count, columns.lowerBound, columns.upperBound, k, packed + r0 * k, x, rows, cols,
                                  out + r0 * n, n, bias.map { $0 + r0 }, relu ? 1 : 0)
            epilogue?(block, columns)
        }
    }

    /// Whether one image's im2col and GEMM are split by output rows over the threads: enough
    /// work for the hand-off, and at least a row per part.
    private func splitsRows(_ p: ConvPlan) -> Bool {
        threads > 1 && p.y.output >= threads && p.mg * p.k * p.ohw >= 1 << 17
    }

    /// One image's channel group as `threads` parts by output rows: each part writes the im2col
    /// columns of its rows into a matrix of its own and multiplies them (bias, relu and `rest`
    /// applied), so its columns go from im2col to the GEMM in its own core's cache, and no step
    /// waits for another. (Parts writing their columns of one shared matrix made every row's
    /// boundary a cache line both cores wrote: im2col was 41 % of LeNet's batch 1 on 2 threads.)
    private func rowParts(_ x: UnsafePointer<Float>, _ packed: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
                          _ p: ConvPlan, bias: UnsafePointer<Float>?, relu: Bool, rest: Activation?) {
        let oh = p.y.output, ow = p.x.output, ohw = p.ohw, isa = path.isa
        splitRange(threads, oh) { r0, r1 in
            let width = (r1 - r0) * ow
            let col = UnsafeMutablePointer<Float>.allocate(capacity: max(1, p.k * width))
            defer { col.deallocate() }
            // im2col places output row oy at column oy·ow; shifted so this part's rows start at 0.
            im2col(x, p, col - r0 * ow, ld: width, rows: r0..<r1)
            shrink_sgemm_packed(isa, p.mg, 0, width, p.k, packed, col, width, out + r0 * ow, ohw, bias, relu ? 1 : 0)
            if let rest { Self.activate(rest, out, ld: ohw)(0..<p.mg, (r0 * ow)..<(r1 * ow)) }
        }
    }

    /// Floats of transformed input and products a Winograd block may hold (1 MB). Smaller blocks
    /// measured no faster on ocr-det's 24×40 maps, at 1 or 2 threads; `SHRINK_WINOGRAD_BLOCK`
    /// overrides it for tuning.
    static let winogradBlockFloats = Int(ProcessInfo.processInfo.environment["SHRINK_WINOGRAD_BLOCK"] ?? "") ?? (1 << 18)

    /// Winograd F(2×2, 3×3): input transform, 16 GEMMs, output transform (with bias and relu).
    /// Small images are grouped so a block has enough tiles; large ones are cut into blocks of
    /// tile rows that fit in L2. With several threads and several blocks each thread runs whole
    /// blocks (no hand-off between the steps); a single block splits each step over the threads
    /// (channels, products, output channels).
    private func winograd(_ x: UnsafePointer<Float>, _ u: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>,
                          _ p: ConvPlan, bias: UnsafePointer<Float>?, relu: Bool, rest: Activation?,
                          _ finish: (Int, Int) -> Void) {
        let oh = p.y.output, ow = p.x.output, th = (oh + 1) / 2, tw = (ow + 1) / 2, perImage = th * tw
        let isa = path.isa, inImage = p.c * p.h * p.w, outImage = p.m * p.ohw
        // One block: tile rows [ty0, ty0 + rows) of images [i0, i0 + nb), steps split `parts` ways.
        func block(_ i0: Int, _ nb: Int, _ ty0: Int, _ rows: Int, _ v: UnsafeMutablePointer<Float>,
                   _ prod: UnsafeMutablePointer<Float>, parts: Int) {
            let tiles = nb * rows * tw, xs = x + i0 * inImage, os = o + i0 * outImage
            splitRange(parts, p.c) { c0, c1 in
                shrink_winograd_input(isa, c0, c1, p.c, p.h, p.w, p.y.padBegin, p.x.padBegin, ty0, rows, tw, nb, xs,
                                      inImage, v, tiles)
            }
            splitRange(parts, 16) { k0, k1 in
                shrink_winograd_products(isa, k0, k1, p.m, p.c, tiles, u, v, prod)
            }
            splitRange(parts, p.m) { m0, m1 in
                shrink_winograd_output(isa, m0, m1, p.m, oh, ow, ty0, rows, tw, nb, prod, tiles, bias, relu ? 1 : 0,
                                       os, outImage)
            }
        }
        func stepParts(_ tiles: Int) -> Int { threads > 1 && 16 * p.m * p.c * tiles >= 1 << 17 ? threads : 1 }

        if perImage < 128 {
            // Small images: groups of images per block, each step split over the threads.
            var per = 1
            while per < p.n && per * perImage < 128 && 16 * (p.c + p.m) * 2 * per * perImage <= 1 << 20 { per *= 2 }
            let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * p.c * per * perImage)
            let prod = UnsafeMutablePointer<Float>.allocate(capacity: 16 * p.m * per * perImage)
            defer { v.deallocate(); prod.deallocate() }
            var i0 = 0
            while i0 < p.n {
                let nb = min(per, p.n - i0)
                block(i0, nb, 0, th, v, prod, parts: stepParts(nb * perImage))
                finish(i0, nb)
                i0 += nb
            }
            return
        }
        // Large images: blocks of tile rows, as many per image as L2 needs, and at least one per
        // thread for a single image.
        var blocksPerImage = (16 * (p.c + p.m) * perImage + Self.winogradBlockFloats - 1) / Self.winogradBlockFloats
        if threads > 1 && p.n < threads { blocksPerImage = (blocksPerImage + threads - 1) / threads * threads }
        let rowsPer = (th + min(th, blocksPerImage) - 1) / min(th, blocksPerImage)
        let blocks = (th + rowsPer - 1) / rowsPer, units = p.n * blocks
        // One unit on its own buffers, with the activation other than relu applied to its rows.
        func unit(_ k: Int, _ v: UnsafeMutablePointer<Float>, _ prod: UnsafeMutablePointer<Float>, parts: Int) {
            let img = k / blocks, ty0 = k % blocks * rowsPer, rows = min(rowsPer, th - ty0)
            block(img, 1, ty0, rows, v, prod, parts: parts)
            guard let rest else { return }
            let y0 = 2 * ty0, y1 = min(oh, 2 * (ty0 + rows))
            for ch in 0..<p.m { rest.apply(o + img * outImage + ch * p.ohw + y0 * ow, count: (y1 - y0) * ow) }
        }
        let perThread = threads > 1 && units >= threads ? threads : 1
        parallelParts(perThread) { t in
            let v = UnsafeMutablePointer<Float>.allocate(capacity: 16 * p.c * rowsPer * tw)
            let prod = UnsafeMutablePointer<Float>.allocate(capacity: 16 * p.m * rowsPer * tw)
            defer { v.deallocate(); prod.deallocate() }
            for k in (units * t / perThread)..<(units * (t + 1) / perThread) {
                unit(k, v, prod, parts: perThread > 1 ? 1 : stepParts(rowsPer * tw))
            }
        }
    }

    /// `body(lo, hi)` on `parts` consecutive slices of 0..<count, in parallel when parts > 1.
    private func splitRange(_ parts: Int, _ count: Int, _ body: (Int, Int) -> Void) {
        let parts = min(parts, count)
        if parts <= 1 { return body(0, count) }
        parallelParts(parts) { t in body(count * t / parts, count * (t + 1) / parts) }
    }

    /// Depthwise conv plane by plane in C (`shrink_depthwise_planes`: one call per group of planes,
    /// not per plane — PP-OCR's 384 planes of 3×5 had cost more in calls than in MACs), split over
    /// the threads by planes. The activation runs on each group (about 32 KB of output) while it
    /// is in L1.
    private func depthwise(_ x: UnsafePointer<Float>, _ w: UnsafePointer<Float>, _ o: UnsafeMutablePointer<Float>,
                           _ p: ConvPlan, bias: UnsafePointer<Float>?, relu: Bool, rest: Activation?) {
        let planes = p.n * p.m, taps = p.kh * p.kw, isa = path.isa
        let group = max(1, 8192 / max(1, p.ohw))
        let range = { (lo: Int, hi: Int) in
            for p0 in stride(from: lo, to: hi, by: group) {
                let p1 = min(hi, p0 + group)
                shrink_depthwise_planes(isa, p0, p1, x, p.c, p.m, p.h, p.w, w, p.kh, p.kw, p.y.stride, p.x.stride,
                                        p.y.dilation, p.x.dilation, p.y.padBegin, p.x.padBegin, bias, o, p.y.output,
                                        p.x.output)
                let out = o + p0 * p.ohw, count = (p1 - p0) * p.ohw
                if relu { Activation.relu.apply(out, count: count) }
                rest?.apply(out, count: count)
            }
        }
        let parts = threads > 1 && planes * p.ohw * taps >= 1 << 15 ? min(threads, planes) : 1
        if parts <= 1 { return range(0, planes) }
        parallelParts(parts) { t in range(planes * t / parts, planes * (t + 1) / parts) }
    }
}
