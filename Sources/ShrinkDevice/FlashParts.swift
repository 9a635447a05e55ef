/// A library's flash split into parts that add up over layers: constants, kernel calls per
/// kernel kind, and the reorder copies of the entry points. A search prices a configuration as
/// the original's parts plus each changed layer's difference, then turns the sum into bytes —
/// each kernel kind used pays its code once, each call its glue — without lowering the whole
/// candidate. `flash(device:int8:)` of a budget's parts is that budget's `flash`.
public struct FlashParts: Sendable, Equatable, Hashable {
    /// Weights, biases, quantisation parameters and layer structs.
    public var constantBytes: Int
    /// Kernel calls per kernel kind (alias reshapes, which run nothing, are not calls).
    public var calls: [KernelKind: Int]
    /// Glue of the entry points' channel-reordering copies.
    public var reorderGlue: Int

    /// Nothing.
    public static let zero = FlashParts(constantBytes: 0, calls: [:], reorderGlue: 0)

    /// Parts from their values.
    public init(constantBytes: Int, calls: [KernelKind: Int], reorderGlue: Int) {
        self.constantBytes = constantBytes
        self.calls = calls
        self.reorderGlue = reorderGlue
    }

    /// The parts of a computed budget (`int8` says which glue and kernel table it used).
    public init(_ budget: DeviceBudget, device: DeviceProfile, int8: Bool) {
        var calls = [KernelKind: Int]()
        // An alias reshape is the only layer with neither parameters nor an activation buffer.
        for l in budget.layers where !(l.kernel == .reshape && l.parameterBytes == 0 && l.activationBytes == 0) {
            calls[l.kernel, default: 0] += 1
        }
        self.init(constantBytes: budget.constantBytes, calls: calls, reorderGlue: 0)
        reorderGlue = budget.glueCode - fixedGlue(device: device, int8: int8)
    }

    /// Entry code, calls and the requantisation helpers: the glue that follows from the calls.
    func fixedGlue(device: DeviceProfile, int8: Bool) -> Int {
        let g = int8 ? device.int8Glue : device.floatGlue
        let used = calls.filter { $0.value > 0 }.keys
        let count = calls.values.reduce(0, +)
        return g.entry + count * g.call + (int8 && used.contains(where: CKernels.needsRequantize) ? device.requantizeHelpers : 0)
    }

    /// Flash in bytes: constants, each kernel kind used once, and the glue.
    public func flash(device: DeviceProfile, int8: Bool) -> Int {
        let table = int8 ? device.int8Kernels : device.floatKernels
        let code = calls.filter { $0.value > 0 }.keys.reduce(0) { $0 + (table[$1] ?? 0) }
        return constantBytes + code + fixedGlue(device: device, int8: int8) + reorderGlue
    }

    /// Part-wise sum.
    public static func + (a: FlashParts, b: FlashParts) -> FlashParts {
        FlashParts(constantBytes: a.constantBytes + b.constantBytes, calls: a.calls.merging(b.calls, uniquingKeysWith: +),
                   reorderGlue: a.reorderGlue + b.reorderGlue)
    }

    /// Part-wise difference (a layer's change against the original).
    public static func - (a: FlashParts, b: FlashParts) -> FlashParts {
        a + FlashParts(constantBytes: -b.constantBytes, calls: b.calls.mapValues { -$0 }, reorderGlue: -b.reorderGlue)
    }
}
