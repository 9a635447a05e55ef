import ShrinkTensor

/// How `Resize` maps an output coordinate to an input coordinate (ONNX `coordinate_transformation_mode`).
public enum ResizeCoordinates: String, Sendable, Equatable {
    /// (x + 0.5) / scale − 0.5
    case halfPixel = "half_pixel"
    /// As half_pixel, but 0 when the output axis has length 1.
    case pytorchHalfPixel = "pytorch_half_pixel"
    /// x · (in − 1) / (out − 1)
    case alignCorners = "align_corners"
    /// x / scale
    case asymmetric = "asymmetric"
    /// (x + 0.5) / scale
    case tfHalfPixelForNearest = "tf_half_pixel_for_nearest"
    /// half_pixel around the centre when the output length is rounded (opset 19).
    case halfPixelSymmetric = "half_pixel_symmetric"
}

/// How `Resize` in nearest mode rounds a source coordinate (ONNX `nearest_mode`).
public enum ResizeNearestRounding: String, Sendable, Equatable {
    /// Round, halves down.
    case roundPreferFloor = "round_prefer_floor"
    /// Round, halves up.
    case roundPreferCeil = "round_prefer_ceil"
    /// Floor.
    case floor
    /// Ceil.
    case ceil
    /// Opset-10 `Resize` and `Upsample`: ceil when downsampling, truncation otherwise.
    case simple
}

/// How `Resize` reads `sizes` (ONNX `keep_aspect_ratio_policy`, opset 18).
public enum ResizeAspectPolicy: String, Sendable, Equatable {
    /// Each axis takes its size as given.
    case stretch
    /// One scale for all axes, the largest that keeps every axis within its size.
    case notLarger = "not_larger"
    /// One scale for all axes, the smallest that makes every axis at least its size.
    case notSmaller = "not_smaller"
}

/// Attributes of `Resize`/`Upsample` the runtime implements: nearest and (multi)linear.
public struct ResizeAttributes: Sendable, Equatable {
    /// Linear interpolation (bilinear, trilinear, …) when true, nearest neighbour otherwise.
    public var linear: Bool
    /// The coordinate mapping.
    public var coordinates: ResizeCoordinates
    /// Rounding of nearest mode.
    public var nearest: ResizeNearestRounding
    /// The axes scales and sizes refer to (opset 18); nil for all.
    public var axes: [Int]?
    /// How `sizes` are read (opset 18).
    public var aspect: ResizeAspectPolicy

    /// Attributes as given.
    public init(linear: Bool, coordinates: ResizeCoordinates, nearest: ResizeNearestRounding, axes: [Int]? = nil,
                aspect: ResizeAspectPolicy = .stretch) {
        self.linear = linear
        self.coordinates = coordinates
        self.nearest = nearest
        self.axes = axes
        self.aspect = aspect
    }
}

extension Kernels {
    /// ONNX `Resize`: `scales` (per axis) or `sizes` decide the output shape; values are computed
    /// one axis after the other (nearest and linear are separable), in float32 as onnxruntime.
    /// `threads` > 1 splits the planes of a nearest resize of the last two axes over the pool.
    public static func resize(_ x: Tensor, scales: [Float]?, sizes: [Int]?, _ a: ResizeAttributes,
                              threads: Int = 1) throws -> Tensor {
        let r = x.rank
        let axes = try (a.axes ?? Array(0..<r)).map { try normalizedAxis($0, rank: r, what: "Resize axis") }
        var scale = [Float](repeating: 1, count: r)
        var out = x.shape
        if let sizes, !sizes.isEmpty {
            guard sizes.count == axes.count else { throw KernelError("Resize sizes \(sizes) do not fit \(axes.count) axes") }
            guard sizes.allSatisfy({ $0 >= 0 }) else { throw KernelError("Resize sizes \(sizes) must not be negative") }
            if a.aspect == .stretch {
                for (k, ax) in axes.enumerated() {
                    out[ax] = sizes[k]
                    scale[ax] = x.shape[ax] == 0 ? 1 : Float(sizes[k]) / Float(x.shape[ax])
                }
            } else {
                // One scale for every axis; each output length is that scale times the input's, rounded.
                let ratios = axes.enumerated().map { Float(sizes[$0.offset]) / Float(Swift.max(1, x.shape[$0.element])) }
                let common = (a.aspect == .notLarger ? ratios.min() : ratios.max()) ?? 1
                for ax in axes {
                    out[ax] = Int((Float(x.shape[ax]) * common).rounded(.toNearestOrAwayFromZero))
                    scale[ax] = common
                }
            }
        } else if let scales {
            guard scales.count == axes.count else { throw KernelError("Resize scales \(scales) do not fit \(axes.count) axes") }
            for (k, ax) in axes.enumerated() {
                let v = Float(x.shape[ax]) * scales[k]
                guard scales[k] > 0, v.isFinite, v < Float(1 << 31) else { throw KernelError("Resize scale \(scales[k]) is not usable") }
                scale[ax] = scales[k]
                out[ax] = Int(v)
            }
        } else {
            throw KernelError("Resize needs scales or sizes")
        }
        _ = try checkedCount(out, "Resize output")
        // Nearest on the last two axes only (an upsampling neck): one pass over the output, rows
        // that repeat copied whole, instead of one pass per axis.
        let changed = (0..<r).filter { out[$0] != x.shape[$0] || scale[$0] != 1 }
        if !a.linear, r >= 2, changed == [r - 2, r - 1], x.count > 0 {
            return resizeNearestPlanes(x, to: (out[r - 2], out[r - 1]), scales: (scale[r - 2], scale[r - 1]), a, threads: threads)
        }
        var cur = x
        for ax in 0..<r where out[ax] != cur.shape[ax] || scale[ax] != 1 {
            cur = try resizeAxis(cur, axis: ax, to: out[ax], scale: scale[ax], a)
        }
        return cur
    }

    /// The source coordinate of output index `o` on an axis of `input` → `output` elements.
    static func sourceCoordinate(_ o: Int, input: Int, output: Int, scale: Float, _ mode: ResizeCoordinates) -> Float {
        let x = Float(o)
        switch mode {
        case .halfPixel: return (x + 0.5) / scale - 0.5
        case .pytorchHalfPixel: return output > 1 ? (x + 0.5) / scale - 0.5 : 0
        case .alignCorners: return output == 1 ? 0 : x * Float(input - 1) / Float(output - 1)
        case .asymmetric: return x / scale
        case .tfHalfPixelForNearest: return (x + 0.5) / scale
        case .halfPixelSymmetric:
            let adjustment = Float(output) / (scale * Float(input))
            let center = Float(input) / 2
            let offset = center * (1 - adjustment)
            return offset + (x + 0.5) / scale - 0.5
        }
    }

    static func nearestIndex(_ c: Float, input: Int, downsampling: Bool, _ rounding: ResizeNearestRounding) -> Int {
        var i: Int
        switch rounding {
        case .roundPreferFloor: i = c == c.rounded(.down) + 0.5 ? Int(c.rounded(.down)) : Int(c.rounded(.toNearestOrAwayFromZero))
        case .roundPreferCeil: i = Int(c.rounded(.toNearestOrAwayFromZero))
        case .floor: i = Int(c.rounded(.down))
        case .ceil: i = Int(c.rounded(.up))
        case .simple: i = downsampling ? Int(c.rounded(.up)) : Int(c)
        }
        return min(max(i, 0), input - 1)
    }

    /// The nearest source index of each of `n` outputs on an axis of `input` elements.
    static func nearestIndices(_ n: Int, input: Int, scale: Float, _ a: ResizeAttributes) -> [Int] {
        (0..<n).map { o in
            var c = sourceCoordinate(o, input: input, output: n, scale: scale, a.coordinates)
            c = c.isNaN ? 0 : min(max(c, -1), Float(input))
            return nearestIndex(c, input: input, downsampling: scale < 1, a.nearest)
        }
    }

    /// Nearest resize of the last two axes in one pass: each output row gathers from its source
    /// row, and a row whose source row is the previous one's is copied from the output.
    static func resizeNearestPlanes(_ x: Tensor, to size: (h: Int, w: Int), scales: (Float, Float), _ a: ResizeAttributes,
                                    threads: Int = 1) -> Tensor {
        let r = x.rank
        let (ih, iw) = (x.shape[r - 2], x.shape[r - 1])
        var shape = x.shape
        shape[r - 2] = size.h
        shape[r - 1] = size.w
        let planes = x.shape[..<(r - 2)].reduce(1, *)
        var result = [Float](repeating: 0, count: planes * size.h * size.w)
        guard size.h > 0, size.w > 0, ih > 0, iw > 0 else { return Tensor(shape: shape, scalars: result) }
        let rows = nearestIndices(size.h, input: ih, scale: scales.0, a)
        let cols = nearestIndices(size.w, input: iw, scale: scales.1, a)
        x.scalars.withUnsafeBufferPointer { src in
            result.withUnsafeMutableBufferPointer { dst in
                guard let s = src.baseAddress, let d = dst.baseAddress else { return }
                splitCount(planes * size.h * size.w, threads: threads, unit: size.h * size.w) { lo, hi in
                for p in (lo / (size.h * size.w))..<(hi / (size.h * size.w)) {
                    let sp = s + p * ih * iw, dp = d + p * size.h * size.w
                    for oy in 0..<size.h {
                        let out = dp + oy * size.w
                        if oy > 0, rows[oy] == rows[oy - 1] {
                            out.update(from: out - size.w, count: size.w)
                            continue
                        }
                        let row = sp + rows[oy] * iw
                        for ox in 0..<size.w { out[ox] = row[cols[ox]] }
                    }
                }
                }
            }
        }
        return Tensor(shape: shape, scalars: result)
    }

    /// Resizes one axis.
    static func resizeAxis(_ x: Tensor, axis: Int, to n: Int, scale: Float, _ a: ResizeAttributes) throws -> Tensor {
        let inLen = x.shape[axis]
        var shape = x.shape
        shape[axis] = n
        let outer = product(x.shape[..<axis]), inner = product(x.shape[(axis + 1)...])
        var result = [Float](repeating: 0, count: try checkedCount(shape, "Resize output"))
        guard inLen > 0, n > 0, outer * inner > 0 else { return Tensor(shape: shape, scalars: result) }
        // Per output index: two source indices and weights (nearest: one index, weight 1).
        var i0 = [Int](repeating: 0, count: n), i1 = [Int](repeating: 0, count: n)
        var w0 = [Float](repeating: 1, count: n), w1 = [Float](repeating: 0, count: n)
        for o in 0..<n {
            var c = sourceCoordinate(o, input: inLen, output: n, scale: scale, a.coordinates)
            // Degenerate scales give infinite coordinates: clamp before converting to an index.
            c = c.isNaN ? 0 : min(max(c, -1), Float(inLen))
            if a.linear {
                let cc = min(max(c, 0), Float(inLen - 1))
                let lo = min(Int(cc), inLen - 1)
                let hi = min(lo + 1, inLen - 1)
                i0[o] = lo; i1[o] = hi
                if lo == hi {
                    w0[o] = 0.5; w1[o] = 0.5
                } else {
                    w1[o] = cc - Float(lo)
                    w0[o] = 1 - w1[o]
                }
            } else {
                i0[o] = nearestIndex(c, input: inLen, downsampling: scale < 1, a.nearest)
            }
        }
        x.scalars.withUnsafeBufferPointer { src in
            result.withUnsafeMutableBufferPointer { dst in
                for p in 0..<outer {
                    let sBase = p * inLen * inner, dBase = p * n * inner
                    for o in 0..<n {
                        let s0 = sBase + i0[o] * inner, d = dBase + o * inner
                        if a.linear {
                            let s1 = sBase + i1[o] * inner, a0 = w0[o], a1 = w1[o]
                            for j in 0..<inner { dst[d + j] = a0 * src[s0 + j] + a1 * src[s1 + j] }
                        } else {
                            for j in 0..<inner { dst[d + j] = src[s0 + j] }
                        }
                    }
                }
            }
        }
        return Tensor(shape: shape, scalars: result)
    }
}
