import CKernels
import ShrinkTensor

/// Attributes of `MaxPool` and `AveragePool`.
public struct PoolAttributes: Sendable, Equatable {
    /// Spatial window size (required by ONNX).
    public var kernelShape: [Int]
    /// Strides per spatial axis (default 1).
    public var strides: [Int]?
    /// Begin pads then end pads (default 0).
    public var pads: [Int]?
    /// Dilations per spatial axis (MaxPool; default 1).
    public var dilations: [Int]?
    /// Round the output size up rather than down.
    public var ceilMode: Bool
    /// AveragePool: divide by the full window including padding rather than the valid elements.
    public var countIncludePad: Bool
    /// Automatic padding mode.
    public var autoPad: AutoPad

    /// Attributes with ONNX defaults unless given.
    public init(kernelShape: [Int], strides: [Int]? = nil, pads: [Int]? = nil, dilations: [Int]? = nil,
                ceilMode: Bool = false, countIncludePad: Bool = false, autoPad: AutoPad = .notSet) {
        self.kernelShape = kernelShape; self.strides = strides; self.pads = pads; self.dilations = dilations
        self.ceilMode = ceilMode; self.countIncludePad = countIncludePad; self.autoPad = autoPad
    }
}

/// Which pooling reduction.
public enum PoolKind: Sendable {
    /// Maximum over the window (padding never wins).
    case max
    /// Mean over the window.
    case average
}

extension Kernels {
    /// `MaxPool` / `AveragePool` over 1-D or 2-D NC… inputs.
    public static func pool(_ kind: PoolKind, _ input: Tensor, _ attrs: PoolAttributes) throws -> Tensor {
        guard input.rank == 3 || input.rank == 4 else {
            throw KernelError("pooling supports 1-D and 2-D inputs ([N, C, W] or [N, C, H, W]), got shape \(input.shape)")
        }
        let spatial = Array(input.shape.dropFirst(2))
        let oneD = spatial.count == 1
        let (ay, ax) = try poolGeometry(spatial, attrs)
        let planes = input.shape[0] * input.shape[1]
        let oh = ay.output, ow = ax.output
        var out = [Float](repeating: 0, count: try checkedCount([planes, oh, ow], "pool output"))
        let outShape = Array(input.shape.prefix(2)) + (oneD ? [ow] : [oh, ow])
        if out.isEmpty { return Tensor(shape: outShape, scalars: out) }
        input.scalars.withUnsafeBufferPointer { xb in
            out.withUnsafeMutableBufferPointer { ob in
                poolPlanes(kind, ay, ax, countIncludePad: attrs.countIncludePad, src: xb.baseAddress!, planes: planes,
                           dst: ob.baseAddress!)
            }
        }
        return Tensor(shape: outShape, scalars: out)
    }

    /// The 2-D window geometry of a pool over planes of `spatial` size (1-D gets a height-1 axis).
    static func poolGeometry(_ spatial: [Int], _ attrs: PoolAttributes) throws -> (WindowAxis, WindowAxis) {
        var geo = try windowGeometry(input: spatial, kernel: attrs.kernelShape, strides: attrs.strides, pads: attrs.pads,
                                     dilations: attrs.dilations, autoPad: attrs.autoPad, ceilMode: attrs.ceilMode)
        if geo.count == 1 { geo.insert(WindowAxis(input: 1, kernel: 1, stride: 1, dilation: 1, padBegin: 0, padEnd: 0, output: 1), at: 0) }
        return (geo[0], geo[1])
    }

    /// Pools `planes` consecutive planes of `src` into `dst`; shared by the pool kernels and by
    /// Conv with a fused pool (which pools each image group while it is still in cache).
    static func poolPlanes(_ kind: PoolKind, _ ay: WindowAxis, _ ax: WindowAxis, countIncludePad: Bool,
                           src x: UnsafePointer<Float>, planes: Int, dst o: UnsafeMutablePointer<Float>) {
        let h = ay.input, w = ax.input, oh = ay.output, ow = ax.output
        // Max pools over non-overlapping 2×2, 1×2 or 2×1 windows (the ubiquitous 2×2/stride 2, and
        // tf2onnx's 1×2 that halves a spectrogram's width) in C on the CPU's vectors.
        let tiles = kind == .max && [1, 2].contains(ay.kernel) && [1, 2].contains(ax.kernel) && ay.kernel * ax.kernel > 1
            && ay.stride == ay.kernel && ax.stride == ax.kernel && ay.dilation == 1 && ax.dilation == 1
            && ay.padBegin == 0 && ax.padBegin == 0 && oh * ay.kernel <= h && ow * ax.kernel <= w
        if tiles {
            shrink_maxpool_tiles(KernelPath.selected.isa, x, planes, h, w, ay.kernel, ax.kernel, o, oh, ow)
            return
        }
        for pl in 0..<planes {
            let src = x + pl * h * w, dst = o + pl * oh * ow
            for oy in 0..<oh {
                let y0 = oy * ay.stride - ay.padBegin
                for ox in 0..<ow {
                    let x0 = ox * ax.stride - ax.padBegin
                    switch kind {
                    case .max:
                        var best = -Float.infinity
                        for ky in 0..<ay.kernel {
                            let iy = y0 + ky * ay.dilation
                            if iy < 0 || iy >= h { continue }
                            for kx in 0..<ax.kernel {
                                let ix = x0 + kx * ax.dilation
                                if ix < 0 || ix >= w { continue }
                                best = Swift.max(best, src[iy * w + ix])
                            }
                        }
                        dst[oy * ow + ox] = best
                    case .average where ay.dilation > 1 || ax.dilation > 1:
                        // Dilated taps (opset 19): each tap counts for count_include_pad when it
                        // lies in the padded extent, and is summed when it lies in the input.
                        var sum: Float = 0
                        var inside = 0, padded = 0
                        for ky in 0..<ay.kernel {
                            let iy = y0 + ky * ay.dilation
                            guard iy < h + ay.padEnd else { break }
                            for kx in 0..<ax.kernel {
                                let ix = x0 + kx * ax.dilation
                                guard ix < w + ax.padEnd else { break }
                                padded += 1
                                if iy >= 0 && iy < h && ix >= 0 && ix < w {
                                    sum += src[iy * w + ix]
                                    inside += 1
                                }
                            }
                        }
                        let count = countIncludePad ? padded : inside
                        dst[oy * ow + ox] = count > 0 ? sum / Float(count) : 0
                    case .average:
                        // Window clipped to the padded extent (for count_include_pad) and to
                        // the input (for the sum and the default divisor).
                        let yEnd = Swift.min(y0 + ay.kernel, h + ay.padEnd)
                        let xEnd = Swift.min(x0 + ax.kernel, w + ax.padEnd)
                        let ys = Swift.max(y0, 0), ye = Swift.min(yEnd, h)
                        let xs = Swift.max(x0, 0), xe = Swift.min(xEnd, w)
                        var sum: Float = 0
                        if ys < ye && xs < xe {
                            for iy in ys..<ye { for ix in xs..<xe { sum += src[iy * w + ix] } }
                        }
                        let count = countIncludePad
                            ? (yEnd - y0) * (xEnd - x0)
                            : Swift.max(0, ye - ys) * Swift.max(0, xe - xs)
                        dst[oy * ow + ox] = count > 0 ? sum / Float(count) : 0
                    }
                }
            }
        }
    }

    /// `GlobalAveragePool`: the mean of each channel's spatial plane, keeping size-1 spatial axes.
    public static func globalAveragePool(_ input: Tensor) throws -> Tensor {
        guard input.rank >= 3 else { throw KernelError("GlobalAveragePool needs [N, C, …], got shape \(input.shape)") }
        let planes = input.shape[0] * input.shape[1]
        let size = input.count / Swift.max(planes, 1)
        var out = [Float](repeating: 0, count: planes)
        input.scalars.withUnsafeBufferPointer { xb in
            guard let x = xb.baseAddress else { return }
            for p in 0..<planes {
                // Eight partial sums in one vector: a serial float sum cannot be vectorised.
                let q = UnsafeRawPointer(x + p * size)
                var v = SIMD8<Float>()
                var j = 0
                while j &+ 8 <= size {
                    v += q.loadUnaligned(fromByteOffset: j &* 4, as: SIMD8<Float>.self)
                    j &+= 8
                }
                var s = v.sum()
                while j < size {
                    s += x[p * size + j]
                    j &+= 1
                }
                out[p] = size > 0 ? s / Float(size) : 0
            }
        }
        return Tensor(shape: Array(input.shape.prefix(2)) + [Int](repeating: 1, count: input.rank - 2), scalars: out)
    }
}
