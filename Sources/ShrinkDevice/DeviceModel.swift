/// A model ready for the device: float32 (unquantised) or int8.
public enum DeviceModel: Sendable, Codable, Equatable {
    /// The float32 model (the C export uses float kernels).
    case float(DeviceGraph)
    /// The int8 model.
    case int8(QuantizedModel)

    /// True for the int8 model.
    public var isInt8: Bool {
        if case .int8 = self { return true }
        return false
    }

    /// The input tensor.
    public var input: DeviceTensor {
        switch self {
        case .float(let g): g.input
        case .int8(let q): q.input
        }
    }

    /// The output tensor.
    public var output: DeviceTensor {
        switch self {
        case .float(let g): g.output
        case .int8(let q): q.output
        }
    }

    /// Every activation tensor.
    public var tensors: [String: DeviceTensor] {
        switch self {
        case .float(let g): g.tensors
        case .int8(let q): q.tensors
        }
    }

    /// Notes from lowering and quantisation.
    public var notes: [String] {
        switch self {
        case .float(let g): g.notes
        case .int8(let q): q.notes
        }
    }

    /// The layers' structure (name, kernel, inputs, output, MACs), whatever the precision.
    public var layerSummaries: [LayerSummary] {
        switch self {
        case .float(let g):
            g.layers.map { LayerSummary(name: $0.name, kernel: $0.op.kernel, inputs: $0.inputs, output: $0.output, macs: $0.op.macs) }
        case .int8(let q):
            q.layers.map { LayerSummary(name: $0.name, kernel: $0.op.kernel, inputs: $0.inputs, output: $0.output, macs: $0.op.macs) }
        }
    }

    /// Bytes per activation element (1 for int8, 4 for float32).
    public var elementSize: Int { isInt8 ? 1 : 4 }

    /// Multiply-accumulates of one sample.
    public var macs: Int { layerSummaries.reduce(0) { $0 + $1.macs } }
}

/// A layer's structure, without its parameters.
public struct LayerSummary: Sendable, Codable, Equatable {
    /// The layer name.
    public var name: String
    /// The kernel that runs it.
    public var kernel: KernelKind
    /// Input tensor names.
    public var inputs: [String]
    /// Output tensor name.
    public var output: String
    /// Multiply-accumulates of one sample.
    public var macs: Int
}
