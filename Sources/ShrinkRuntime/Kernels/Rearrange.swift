import ShrinkTensor

// Ops that move elements without arithmetic: pixel (un)shuffles and triangular masks.

extension Kernels {
    /// `DepthToSpace` of an [N, C, H, W] value: channel blocks become b×b spatial tiles.
    /// `crd` picks ONNX's CRD mode (PyTorch's `PixelShuffle`); otherwise DCR, the default.
    public static func depthToSpace(_ x: Value, blocksize b: Int, crd: Bool) throws -> Value {
        let s = x.shape
        guard s.count == 4, b > 0, s[1] % (b * b) == 0 else {
            throw KernelError("DepthToSpace needs [N, C, H, W] with C divisible by blocksize² (\(b)²), got \(s)")
        }
        let (n, c, h, w) = (s[0], s[1] / (b * b), s[2], s[3])
        let split = crd ? [n, c, b, b, h, w] : [n, b, b, c, h, w]
        let perm = crd ? [0, 1, 4, 2, 5, 3] : [0, 3, 4, 1, 5, 2]
        let out = try transpose(x.withShape(split), perm: perm)
        return out.withShape([n, c, h * b, w * b])
    }

    /// `SpaceToDepth`: b×b spatial tiles of an [N, C, H, W] value become channel blocks (the
    /// inverse of DCR `DepthToSpace`).
    public static func spaceToDepth(_ x: Value, blocksize b: Int) throws -> Value {
        let s = x.shape
        guard s.count == 4, b > 0, s[2] % b == 0, s[3] % b == 0 else {
            throw KernelError("SpaceToDepth needs [N, C, H, W] with H and W divisible by blocksize \(b), got \(s)")
        }
        let (n, c, h, w) = (s[0], s[1], s[2] / b, s[3] / b)
        let out = try transpose(x.withShape([n, c, h, b, w, b]), perm: [0, 3, 5, 1, 2, 4])
        return out.withShape([n, c * b * b, h, w])
    }

    /// `Trilu`: keeps the upper (or lower) triangle of the last two axes from diagonal `k` on
    /// (k > 0 above the main diagonal), zeroing the rest.
    public static func trilu(_ x: Value, k: Int64, upper: Bool) throws -> Value {
        let s = x.shape
        guard s.count >= 2 else { throw KernelError("Trilu needs at least 2 dimensions, got \(s)") }
        let rows = s[s.count - 2], cols = s[s.count - 1]
        let keep = { (i: Int, j: Int) -> Bool in upper ? Int64(j - i) >= k : Int64(j - i) <= k }
        func mask<T: Numeric>(_ v: [T]) -> [T] {
            var out = v
            let plane = rows * cols
            guard plane > 0 else { return out }
            for base in stride(from: 0, to: v.count, by: plane) {
                for i in 0..<rows {
                    for j in 0..<cols where !keep(i, j) { out[base + i * cols + j] = 0 }
                }
            }
            return out
        }
        switch x {
        case .float(let t): return .float(Tensor(shape: s, scalars: mask(t.scalars)))
        case .int64(let t): return .int64(IntTensor(shape: s, values: mask(t.values)))
        }
    }
}
