import COpenBLAS
import ShrinkTensor

/// Attributes of `ConvTranspose`; absent lists take ONNX defaults for the spatial rank.
public struct ConvTransposeAttributes: Sendable, Equatable {
    /// Spatial kernel size; taken from the weight when nil.
    public var kernelShape: [Int]?
    /// Strides per spatial axis (default 1).
    public var strides: [Int]?
    /// Begin pads then end pads (default 0).
    public var pads: [Int]?
    /// Dilations per spatial axis (default 1).
    public var dilations: [Int]?
    /// Extra elements at the end of each spatial axis (default 0).
    public var outputPadding: [Int]?
    /// Explicit spatial output shape; pads are then derived from it.
    public var outputShape: [Int]?
    /// Number of groups.
    public var group: Int
    /// Automatic padding mode.
    public var autoPad: AutoPad

    /// Attributes with ONNX defaults unless given.
    public init(kernelShape: [Int]? = nil, strides: [Int]? = nil, pads: [Int]? = nil, dilations: [Int]? = nil,
                outputPadding: [Int]? = nil, outputShape: [Int]? = nil, group: Int = 1, autoPad: AutoPad = .notSet) {
        self.kernelShape = kernelShape; self.strides = strides; self.pads = pads; self.dilations = dilations
        self.outputPadding = outputPadding; self.outputShape = outputShape; self.group = group; self.autoPad = autoPad
    }
}

extension Kernels {
    /// ONNX `ConvTranspose` on `[N, C, spatial…]` with weight `[C, M/group, k…]`: per sample and
    /// group one GEMM (Wᵀ·X) into columns, scattered back (col2im) into the output.
    /// `threads` > 1 splits each image's output channels over the pool (GEMM rows and scatter).
    public static func convTranspose(_ x: Tensor, weight w: Tensor, bias: Tensor?, _ a: ConvTransposeAttributes,
                                     threads: Int = 1) throws -> Tensor {
        guard x.rank >= 3, w.rank == x.rank else {
            throw KernelError("ConvTranspose needs input [N, C, …] and a weight of the same rank, got \(x.shape) and \(w.shape)")
        }
        let r = x.rank - 2
        let n = x.shape[0], c = x.shape[1], g = a.group
        guard g >= 1, g <= max(c, 1), c % g == 0, w.shape[0] == c else {
            throw KernelError("ConvTranspose with group \(g): input channels \(c) and weight \(w.shape) do not fit")
        }
        let mg = w.shape[1], m = mg * g, cg = c / g
        let kernel = a.kernelShape ?? Array(w.shape.dropFirst(2))
        guard kernel == Array(w.shape.dropFirst(2)) else { throw KernelError("kernel_shape \(kernel) disagrees with weight \(w.shape)") }
        let strides = a.strides ?? [Int](repeating: 1, count: r)
        let dil = a.dilations ?? [Int](repeating: 1, count: r)
        let outPad = a.outputPadding ?? [Int](repeating: 0, count: r)
        guard strides.count == r, dil.count == r, outPad.count == r, strides.allSatisfy({ $0 > 0 }), dil.allSatisfy({ $0 > 0 }),
              outPad.allSatisfy({ $0 >= 0 }) else {
            throw KernelError("strides \(strides), dilations \(dil) or output_padding \(outPad) do not fit \(r) spatial axes")
        }
        let input = Array(x.shape.dropFirst(2))
        // Attributes come from user files: keep the size arithmetic far from overflow.
        let limit = 1 << 31
        for v in [strides, dil, outPad, kernel, input, a.pads ?? [], a.outputShape ?? []] where v.contains(where: { $0 >= limit || $0 < 0 }) {
            throw KernelError("ConvTranspose sizes \(v) are out of range")
        }
        var padBegin = [Int](repeating: 0, count: r), out = [Int](repeating: 0, count: r)
        for i in 0..<r {
            let full = strides[i] * max(0, input[i] - 1) + outPad[i] + (kernel[i] - 1) * dil[i] + 1
            if let os = a.outputShape, a.autoPad != .valid {
                let target = Array(os.suffix(r))
                guard target.count == r else { throw KernelError("output_shape \(os) does not fit \(r) spatial axes") }
                // As onnxruntime: a target beyond the full size is not negative padding but
                // zeros (bias) at the end; odd padding goes to the head only for SAME_UPPER.
                let total = max(0, full - target[i])
                padBegin[i] = a.autoPad == .sameUpper ? total - total / 2 : total / 2
                out[i] = target[i]
            } else {
                switch a.autoPad {
                case .sameUpper, .sameLower:
                    out[i] = input[i] * strides[i]
                    let total = full - out[i]
                    padBegin[i] = a.autoPad == .sameUpper ? total / 2 : total - total / 2
                case .valid:
                    out[i] = full
                case .notSet:
                    let p = a.pads ?? [Int](repeating: 0, count: 2 * r)
                    guard p.count == 2 * r, p.allSatisfy({ $0 >= 0 }) else { throw KernelError("pads \(p) do not fit \(r) spatial axes") }
                    padBegin[i] = p[i]
                    out[i] = full - p[i] - p[i + r]
                }
            }
            guard out[i] >= 0 else { throw KernelError("ConvTranspose output size \(out[i]) on axis \(i) is negative") }
        }
        if let bias, bias.count != m { throw KernelError("bias has \(bias.count) values, expected \(m)") }
        let outShape = [n, m] + out
        // Upsampling by a kernel the size of its stride (DBNet's 2×2, stride 2), unpadded: every
        // output element is written by exactly one tap, so it is stored once (no zeroing, no
        // accumulation, the bias added on the way).
        let tiles = r == 2 && kernel == strides && dil == [1, 1] && padBegin == [0, 0]
            && out == zip(input, strides).map { $0 * $1 }
        let total = try checkedCount(outShape, "ConvTranspose output")
        var y = tiles ? [Float](unsafeUninitializedCapacity: total) { _, n in n = total } : [Float](repeating: 0, count: total)
        let inSpatial = product(input), outSpatial = product(out), kSize = product(kernel)
        let rows = mg * kSize
        // Every column is written by the GEMM (β = 0) before it is read.
        let colCount = try checkedCount([rows, inSpatial], "ConvTranspose columns")
        var cols = [Float](unsafeUninitializedCapacity: colCount) { _, n in n = colCount }
        let inStrides = Tensor.strides(for: input), outStrides = Tensor.strides(for: out), kStrides = Tensor.strides(for: kernel)
        // For each kernel tap and input position: the output position (or -1 when cropped by the pads).
        var target = [Int](repeating: -1, count: tiles ? 0 : try checkedCount([kSize, inSpatial], "ConvTranspose taps"))
        for k in 0..<(tiles ? 0 : kSize) {
            for p in 0..<inSpatial {
                var off = 0, ok = true
                for i in 0..<r {
                    let ki = (k / kStrides[i]) % kernel[i], pi = (p / inStrides[i]) % input[i]
                    let o = pi * strides[i] + ki * dil[i] - padBegin[i]
                    if o < 0 || o >= out[i] { ok = false; break }
                    off += o * outStrides[i]
                }
                if ok { target[k * inSpatial + p] = off }
            }
        }
        x.scalars.withUnsafeBufferPointer { px in
            w.scalars.withUnsafeBufferPointer { pw in
                cols.withUnsafeMutableBufferPointer { pc in
                    y.withUnsafeMutableBufferPointer { py in
                        guard inSpatial > 0, rows > 0, cg > 0 else { return }
                        let pcb = pc.baseAddress!, pyb = py.baseAddress!
                        let parts = threads > 1 && mg >= threads && rows * inSpatial * cg >= 1 << 16 ? threads : 1
                        for b in 0..<n {
                            for gi in 0..<g {
                                // Output channels [o0, o1) of this group: their rows of
                                // cols[mg·k, P] = W_gᵀ[mg·k, cg] · X_g[cg, P], then their scatter.
                                parallelParts(parts) { t in
                                    let o0 = mg * t / parts, o1 = mg * (t + 1) / parts
                                    guard o1 > o0 else { return }
                                    let r0 = o0 * kSize, r1 = o1 * kSize
                                    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Int32(r1 - r0), Int32(inSpatial), Int32(cg),
                                                1, pw.baseAddress! + gi * cg * rows + r0, Int32(rows),
                                                px.baseAddress! + (b * c + gi * cg) * inSpatial, Int32(inSpatial),
                                                0, pcb + r0 * inSpatial, Int32(inSpatial))
                                    for oc in o0..<o1 {
                                        let yBase = (b * m + gi * mg + oc) * outSpatial
                                        if tiles {
                                            // Tap (ky, kx) of input (iy, ix) is output (iy·sy + ky, ix·sx + kx).
                                            let bv = bias?.scalars[gi * mg + oc] ?? 0
                                            let (ih, iw, ow, sy, sx) = (input[0], input[1], out[1], strides[0], strides[1])
                                            for k in 0..<kSize {
                                                let src = pcb + (oc * kSize + k) * inSpatial
                                                let dst = pyb + yBase + (k / sx) * ow + k % sx
                                                for iy in 0..<ih {
                                                    let s = src + iy * iw, d = dst + iy * sy * ow
                                                    for ix in 0..<iw { d[ix * sx] = s[ix] + bv }
                                                }
                                            }
                                            continue
                                        }
                                        for k in 0..<kSize {
                                            let row = (oc * kSize + k) * inSpatial, t = k * inSpatial
                                            for p in 0..<inSpatial where target[t + p] >= 0 {
                                                pyb[yBase + target[t + p]] += pcb[row + p]
                                            }
                                        }
                                        if let bias {
                                            let v = bias.scalars[gi * mg + oc]
                                            for j in 0..<outSpatial { pyb[yBase + j] += v }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
        return Tensor(shape: outShape, scalars: y)
    }
}
