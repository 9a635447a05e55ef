/// Code bytes of the fixed parts of `model.c`.
public struct GlueCode: Sendable, Equatable {
    /// The entry points and the layer sequence's frame (with input quantisation and output
    /// dequantisation for an int8 library).
    public var entry: Int
    /// One kernel call in the layer sequence.
    public var call: Int
    /// A channel-reordering copy of the input or output, per entry point.
    public var reorderLoop: Int
}

/// A target MCU as the budget sees it: compiler flags and the code size of each kernel.
///
/// Code sizes are Debian's `arm-none-eabi-gcc` 12.2 at `-Os` for the reference kernels Shrink
/// emits, measured once with `arm-none-eabi-nm -S` on the bundled and synthetic models' libraries
/// and kept here; `DeviceBudgetTests` compiles the libraries again when the toolchain is installed
/// and checks computed against measured flash within 5 %. Float kernels call libgcc's soft-float
/// routines, which the final link adds and the library's objects do not count.
public struct DeviceProfile: Sendable, Equatable {
    /// The name used on the command line (`cortex-m4`).
    public var name: String
    /// Compiler flags for the library (`-mcpu=…`, `-mthumb`, `-Os`).
    public var compilerFlags: [String]
    /// Code bytes of each int8 kernel.
    public var int8Kernels: [KernelKind: Int]
    /// Code bytes of each float32 kernel.
    public var floatKernels: [KernelKind: Int]
    /// Code bytes shared by the int8 kernels that requantise (`shrink_requantize`).
    public var requantizeHelpers: Int
    /// `model.c`'s fixed code for an int8 library.
    public var int8Glue: GlueCode
    /// `model.c`'s fixed code for a float32 library.
    public var floatGlue: GlueCode

    /// Every profile, by name.
    public static let all: [DeviceProfile] = [cortexM4, cortexM7]

    /// The profile named `name` (`cortex-m4`, `cortex-m7`).
    public static func named(_ name: String) -> DeviceProfile? { all.first { $0.name == name.lowercased() } }

    static let int8KernelsThumb2: [KernelKind: Int] = [
        .conv: 350, .depthwiseConv: 268, .fullyConnected: 102, .maxPool: 180, .averagePool: 242, .add: 106, .clamp: 36, .reshape: 74, .lookup: 28, .mul: 90,
    ]
    static let floatKernelsThumb2: [KernelKind: Int] = [
        .conv: 386, .depthwiseConv: 314, .fullyConnected: 138, .maxPool: 244, .averagePool: 286, .add: 80, .clamp: 66, .reshape: 100, .lookup: 188, .mul: 96,
    ]

    /// Cortex-M4 (Thumb-2 with DSP; the int8 path uses no FPU).
    public static let cortexM4 = DeviceProfile(
        name: "cortex-m4", compilerFlags: ["-mcpu=cortex-m4", "-mthumb", "-Os"],
        int8Kernels: int8KernelsThumb2, floatKernels: floatKernelsThumb2, requantizeHelpers: 64,
        int8Glue: GlueCode(entry: 372, call: 14, reorderLoop: 12), floatGlue: GlueCode(entry: 92, call: 15, reorderLoop: 40))

    /// Cortex-M7 (the same Thumb-2 code within a few bytes).
    public static let cortexM7 = DeviceProfile(
        name: "cortex-m7", compilerFlags: ["-mcpu=cortex-m7", "-mthumb", "-Os"],
        int8Kernels: int8KernelsThumb2, floatKernels: floatKernelsThumb2, requantizeHelpers: 66,
        int8Glue: GlueCode(entry: 372, call: 14, reorderLoop: 12), floatGlue: GlueCode(entry: 92, call: 15, reorderLoop: 40))
}

/// One layer's share of the budget.
public struct LayerBudget: Sendable, Codable, Equatable {
    /// The layer name.
    public var name: String
    /// Its kernel.
    public var kernel: KernelKind
    /// Multiply-accumulates of one sample.
    public var macs: Int
    /// Weight bytes (int8: 1 per weight; float: 4).
    public var weightBytes: Int
    /// Bias bytes (int32 or float: 4 per output channel).
    public var biasBytes: Int
    /// Requantisation bytes (per-channel multipliers and shifts: 8 per output channel).
    public var quantizationBytes: Int
    /// Bytes of the layer's constant parameter struct.
    public var parameterBytes: Int
    /// Bytes of the layer's output activation.
    public var activationBytes: Int
    /// Scratch the kernel needs while it runs (0 for the reference kernels; CMSIS-NN's optimised
    /// convolutions would need an im2col buffer).
    public var scratchBytes: Int

    /// Everything the layer adds to flash besides kernel code.
    public var constantBytes: Int { weightBytes + biasBytes + quantizationBytes + parameterBytes }
}

/// Flash and RAM of a model's C library on a device, computed from the model.
///
/// `flash` counts every constant the model needs (weights, biases, quantisation parameters,
/// layer parameter structs) plus each kernel's code once and the fixed entry code; `ram` is the
/// activation arena (planned as the export plans it) plus the largest kernel scratch.
public struct DeviceBudget: Sendable, Codable, Equatable {
    /// The device profile's name.
    public var device: String
    /// Per layer (alias reshapes, which cost nothing, included with zeros).
    public var layers: [LayerBudget]
    /// Code bytes per kernel used, each counted once.
    public var kernelCode: [String: Int]
    /// Code bytes of the entry points, helpers and layer calls.
    public var glueCode: Int
    /// The arena's bytes.
    public var arenaBytes: Int
    /// The largest kernel scratch.
    public var scratchBytes: Int

    /// Constants of all layers.
    public var constantBytes: Int { layers.reduce(0) { $0 + $1.constantBytes } }
    /// Code bytes.
    public var codeBytes: Int { kernelCode.values.reduce(0, +) + glueCode }
    /// Flash: constants and code.
    public var flash: Int { constantBytes + codeBytes }
    /// RAM: the arena and the largest scratch.
    public var ram: Int { arenaBytes + scratchBytes }
    /// Multiply-accumulates of one sample.
    public var macs: Int { layers.reduce(0) { $0 + $1.macs } }

    /// The budget of `model` on `device`.
    public static func compute(_ model: DeviceModel, device: DeviceProfile) -> DeviceBudget {
        var rows = [Row]()
        switch model {
        case .int8(let q):
            for l in q.layers {
                switch l.op {
                case .conv(let g, let w, _, let b, _, _):
                    rows.append(Row(name: l.name, kind: l.op.kernel, output: l.output, macs: g.macs, weights: w.count, bias: b?.count ?? 0, quant: g.outC))
                case .fullyConnected(let i, let o, _, _, let b, _, _):
                    rows.append(Row(name: l.name, kind: .fullyConnected, output: l.output, macs: i * o, weights: i * o, bias: b?.count ?? 0))
                case .lookup(_, let table):
                    rows.append(Row(name: l.name, kind: .lookup, output: l.output, weights: table.count))
                default:
                    rows.append(Row(name: l.name, kind: l.op.kernel, output: l.output))
                }
            }
        case .float(let d):
            rows = floatRows(d)
        }
        return compute(rows: rows, plan: MemoryPlan(model), model: model.structure, int8: model.isInt8, device: device)
    }

    /// The budget of `graph`'s library — int8 when `int8`, as `Quantizer` would make it — from
    /// its structure alone, without calibrating or quantising: an int8 layer's constants follow
    /// from its shape (one byte per weight, int32 biases, a multiplier and shift per output
    /// channel of a convolution, a 256-entry table per lookup), and quantisation keeps every
    /// layer and tensor. Equal to `compute(.int8(Quantizer.quantize(graph, …)))`; cheap enough
    /// for a search to price every candidate.
    public static func compute(structureOf graph: DeviceGraph, int8: Bool, device: DeviceProfile) -> DeviceBudget {
        guard int8 else {
            return compute(.float(graph), device: device)
        }
        let rows = graph.layers.map { l -> Row in
            switch l.op {
            case .conv(let g, let w, let b, _):
                return Row(name: l.name, kind: l.op.kernel, output: l.output, macs: g.macs, weights: w.count, bias: b?.count ?? 0, quant: g.outC)
            case .fullyConnected(let i, let o, _, let b, _):
                return Row(name: l.name, kind: .fullyConnected, output: l.output, macs: i * o, weights: i * o, bias: b?.count ?? 0)
            case .lookup:
                return Row(name: l.name, kind: .lookup, output: l.output, weights: 256)
            default:
                return Row(name: l.name, kind: l.op.kernel, output: l.output)
            }
        }
        let model = ModelStructure(layers: DeviceModel.float(graph).layerSummaries, tensors: graph.tensors,
                                   input: graph.input, output: graph.output, elementSize: 1)
        let plan = MemoryPlan(layers: model.layers, tensors: model.tensors, input: model.input, output: model.output, elementSize: 1)
        return compute(rows: rows, plan: plan, model: model, int8: true, device: device)
    }

    /// One layer's constants, before they become bytes.
    struct Row {
        var name: String
        var kind: KernelKind
        var output: String
        var macs = 0
        var weights = 0
        var bias = 0
        var quant = 0
    }

    static func floatRows(_ d: DeviceGraph) -> [Row] {
        d.layers.map { l -> Row in
            switch l.op {
            case .conv(let g, let w, let b, _):
                return Row(name: l.name, kind: l.op.kernel, output: l.output, macs: g.macs, weights: w.count, bias: b?.count ?? 0)
            case .fullyConnected(let i, let o, _, let b, _):
                return Row(name: l.name, kind: .fullyConnected, output: l.output, macs: i * o, weights: i * o, bias: b?.count ?? 0)
            default:
                return Row(name: l.name, kind: l.op.kernel, output: l.output)
            }
        }
    }

    static func compute(rows: [Row], plan: MemoryPlan, model: ModelStructure, int8: Bool, device: DeviceProfile) -> DeviceBudget {
        let scalar = int8 ? 1 : 4
        var layers = [LayerBudget]()
        var used = Set<KernelKind>()
        var calls = 0
        for (k, r) in rows.enumerated() {
            let isAlias = r.kind == .reshape && plan.aliases.contains(k)
            if !isAlias {
                used.insert(r.kind)
                calls += 1
            }
            let out = model.tensors[r.output]!.count * model.elementSize
            layers.append(LayerBudget(name: r.name, kernel: r.kind, macs: r.macs, weightBytes: r.weights * scalar, biasBytes: r.bias * 4,
                                      quantizationBytes: r.quant * 8,
                                      parameterBytes: isAlias ? 0 : CKernels.params(r.kind, int8: int8).targetSize,
                                      activationBytes: isAlias ? 0 : out, scratchBytes: 0))
        }
        let table = int8 ? device.int8Kernels : device.floatKernels
        var code = [String: Int]()
        for k in used { code[k.rawValue] = table[k] ?? 0 }
        let g = int8 ? device.int8Glue : device.floatGlue
        var glue = g.entry + calls * g.call
        if int8 && used.contains(where: CKernels.needsRequantize) { glue += device.requantizeHelpers }
        let copies = int8 ? 2 : 1   // the int8 library has two entry points, each copying in and out
        for t in [model.input.name, model.output.name] where plan.storage[t]?.permutedMap != nil {
            glue += copies * g.reorderLoop
        }
        return DeviceBudget(device: device.name, layers: layers, kernelCode: code, glueCode: glue,
                            arenaBytes: plan.arenaBytes, scratchBytes: layers.map(\.scratchBytes).max() ?? 0)
    }
}

/// What the budget and the memory plan read of a model: its layers' structure and tensors.
struct ModelStructure {
    var layers: [LayerSummary]
    var tensors: [String: DeviceTensor]
    var input: DeviceTensor
    var output: DeviceTensor
    var elementSize: Int
}

extension DeviceModel {
    var structure: ModelStructure {
        ModelStructure(layers: layerSummaries, tensors: tensors, input: input, output: output, elementSize: elementSize)
    }
}

/// Computed flash/RAM against what the toolchain measured.
public struct BudgetCheck: Sendable, Codable, Equatable {
    /// The computed budget.
    public var computed: DeviceBudget
    /// The measured sizes, nil when the toolchain is missing.
    public var measured: MeasuredSize?
    /// The allowed relative difference (5 %).
    public static let tolerance = 0.05

    /// A comparison.
    public init(computed: DeviceBudget, measured: MeasuredSize?) {
        self.computed = computed
        self.measured = measured
    }

    /// (measured − computed) / measured for flash, nil without a measurement.
    public var flashError: Double? { measured.map { Double($0.flash - computed.flash) / Double(max(1, $0.flash)) } }
    /// (measured − computed) / measured for RAM, nil without a measurement.
    public var ramError: Double? { measured.map { Double($0.ram - computed.ram) / Double(max(1, $0.ram)) } }
    /// True when both agree within the tolerance (or nothing was measured).
    public var agrees: Bool {
        guard let f = flashError, let r = ramError else { return true }
        return abs(f) <= Self.tolerance && abs(r) <= Self.tolerance
    }
}
