/// A model in the form the device runs: one data input, one output, a straight list of layers
/// with BatchNorm folded and activations fused, in float32 (ONNX layout, batch dimension
/// dropped). `DeviceGraph.lower(_:)` builds it from an ONNX `Graph`; `Quantizer` turns it into a
/// `QuantizedModel`; `CExporter` writes either as C.
public struct DeviceGraph: Sendable, Codable, Equatable {
    /// The model input, as the ONNX model takes it (one sample).
    public var input: DeviceTensor
    /// The model output, as the device computes it (one sample); see `notes` for a dropped Softmax.
    public var output: DeviceTensor
    /// Every activation tensor by name (input, layer outputs).
    public var tensors: [String: DeviceTensor]
    /// Layers in execution order.
    public var layers: [DeviceLayer]
    /// What lowering changed that the user should know (a final Softmax left out, …).
    public var notes: [String]

    /// A device graph.
    public init(input: DeviceTensor, output: DeviceTensor, tensors: [String: DeviceTensor], layers: [DeviceLayer], notes: [String]) {
        self.input = input
        self.output = output
        self.tensors = tensors
        self.layers = layers
        self.notes = notes
    }

    /// The shape of tensor `name` (one sample); [] if unknown.
    public func shape(of name: String) -> [Int] { tensors[name]?.shape ?? [] }

    /// Multiply-accumulates of one sample (Conv and fully connected layers).
    public var macs: Int { layers.reduce(0) { $0 + $1.op.macs } }

    /// Float parameters (weights and biases).
    public var parameterCount: Int { layers.reduce(0) { $0 + $1.op.parameterCount } }
}

/// An activation tensor of one sample: a name (the ONNX value it holds) and its shape without
/// the batch dimension, in ONNX order (`[C, H, W]`, `[C, L]` or `[N]`).
public struct DeviceTensor: Sendable, Codable, Equatable, Hashable {
    /// The ONNX value name.
    public var name: String
    /// Dimensions without the batch, ONNX order.
    public var shape: [Int]
    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// A tensor.
    public init(name: String, shape: [Int]) {
        self.name = name
        self.shape = shape
    }

    /// Channels, height and width when the tensor is a feature map (`[C, H, W]`, or `[C, L]`
    /// seen as `[C, 1, L]`); nil for a flat vector.
    public var chw: (c: Int, h: Int, w: Int)? {
        switch shape.count {
        case 3: (shape[0], shape[1], shape[2])
        case 2: (shape[0], 1, shape[1])
        default: nil
        }
    }
}

/// A fused activation, or a standalone clamp.
public enum Activation: Sendable, Codable, Equatable, Hashable, CustomStringConvertible {
    /// None.
    case none
    /// max(x, 0).
    case relu
    /// min(max(x, lo), hi) (ReLU6 is `clip(0, 6)`).
    case clip(lo: Float, hi: Float)

    /// The bounds as floats (±infinity where there is none).
    public var bounds: (lo: Float, hi: Float) {
        switch self {
        case .none: (-.infinity, .infinity)
        case .relu: (0, .infinity)
        case .clip(let lo, let hi): (lo, hi)
        }
    }

    /// `relu`, `clip(0, 6)`, or `none`.
    public var description: String {
        switch self {
        case .none: "none"
        case .relu: "relu"
        case .clip(let lo, let hi): "clip(\(lo), \(hi))"
        }
    }
}

/// The geometry of a 2-D convolution (1-D convolutions have height 1).
public struct ConvGeometry: Sendable, Codable, Equatable, Hashable {
    /// Input channels, height, width.
    public var inC: Int, inH: Int, inW: Int
    /// Output channels, height, width.
    public var outC: Int, outH: Int, outW: Int
    /// Kernel height and width.
    public var kernelH: Int, kernelW: Int
    /// Strides.
    public var strideH: Int, strideW: Int
    /// Padding at the top, left, bottom and right.
    public var padTop: Int, padLeft: Int, padBottom: Int, padRight: Int
    /// Dilations.
    public var dilationH: Int, dilationW: Int
    /// Groups: 1 is a plain convolution, `inC` (with `outC` a multiple) a depthwise one.
    public var group: Int

    /// A geometry.
    public init(inC: Int, inH: Int, inW: Int, outC: Int, outH: Int, outW: Int, kernelH: Int, kernelW: Int,
                strideH: Int, strideW: Int, padTop: Int, padLeft: Int, padBottom: Int, padRight: Int,
                dilationH: Int, dilationW: Int, group: Int) {
        self.inC = inC; self.inH = inH; self.inW = inW
        self.outC = outC; self.outH = outH; self.outW = outW
        self.kernelH = kernelH; self.kernelW = kernelW
        self.strideH = strideH; self.strideW = strideW
        self.padTop = padTop; self.padLeft = padLeft; self.padBottom = padBottom; self.padRight = padRight
        self.dilationH = dilationH; self.dilationW = dilationW
        self.group = group
    }

    /// Input channels per group.
    public var inPerGroup: Int { inC / group }
    /// Output channels per group.
    public var outPerGroup: Int { outC / group }
    /// True for a depthwise convolution (one input channel per group), the form CMSIS-NN runs
    /// with `arm_depthwise_conv_s8`.
    public var isDepthwise: Bool { group > 1 && group == inC }
    /// Weights per output channel.
    public var weightsPerOutput: Int { inPerGroup * kernelH * kernelW }
    /// Multiply-accumulates of one sample.
    public var macs: Int { outC * outH * outW * weightsPerOutput }
}

/// The geometry of a 2-D pooling window (1-D pools have height 1; global pools cover the input).
public struct PoolGeometry: Sendable, Codable, Equatable, Hashable {
    /// Channels, input height and width.
    public var channels: Int, inH: Int, inW: Int
    /// Output height and width.
    public var outH: Int, outW: Int
    /// Window height and width.
    public var kernelH: Int, kernelW: Int
    /// Strides.
    public var strideH: Int, strideW: Int
    /// Padding at the top and left (the bottom and right follow from the output size).
    public var padTop: Int, padLeft: Int

    /// A geometry.
    public init(channels: Int, inH: Int, inW: Int, outH: Int, outW: Int, kernelH: Int, kernelW: Int,
                strideH: Int, strideW: Int, padTop: Int, padLeft: Int) {
        self.channels = channels; self.inH = inH; self.inW = inW; self.outH = outH; self.outW = outW
        self.kernelH = kernelH; self.kernelW = kernelW; self.strideH = strideH; self.strideW = strideW
        self.padTop = padTop; self.padLeft = padLeft
    }
}

/// What a layer computes, with its float parameters.
public enum DeviceOp: Sendable, Codable, Equatable {
    /// Convolution (plain, grouped or depthwise), weights `[outC, inC/group, kH, kW]` row-major,
    /// bias `[outC]` or none.
    case conv(ConvGeometry, weights: [Float], bias: [Float]?, activation: Activation)
    /// Fully connected: `y = W x + b`, weights `[outputs, inputs]` row-major.
    case fullyConnected(inputs: Int, outputs: Int, weights: [Float], bias: [Float]?, activation: Activation)
    /// Max pooling (padding never wins).
    case maxPool(PoolGeometry)
    /// Average pooling; `countIncludePad` divides by the whole window, else by the elements inside.
    case averagePool(PoolGeometry, countIncludePad: Bool)
    /// Elementwise sum of two tensors of one shape (a residual connection).
    case add(activation: Activation)
    /// A standalone ReLU or Clip.
    case clamp(Activation)
    /// Flatten or Reshape: the same elements, in ONNX order, under the output's shape.
    case reshape
    /// An elementwise function of one tensor (hard-swish, hard-sigmoid, leaky ReLU); int8 runs
    /// it as a 256-entry table computed at quantisation time.
    case lookup(ElementwiseFunction)
    /// Elementwise product of a feature map and a second tensor of the same shape, or of one
    /// value per channel broadcast over the spatial axes (squeeze-excitation).
    case mul(activation: Activation)

    /// The kernel that runs it.
    public var kernel: KernelKind {
        switch self {
        case .lookup: .lookup
        case .mul: .mul
        case .conv(let g, _, _, _): g.isDepthwise ? .depthwiseConv : .conv
        case .fullyConnected: .fullyConnected
        case .maxPool: .maxPool
        case .averagePool: .averagePool
        case .add: .add
        case .clamp: .clamp
        case .reshape: .reshape
        }
    }

    /// Multiply-accumulates of one sample.
    public var macs: Int {
        switch self {
        case .conv(let g, _, _, _): g.macs
        case .fullyConnected(let i, let o, _, _, _): i * o
        default: 0
        }
    }

    /// Float parameters (weights and biases).
    public var parameterCount: Int {
        switch self {
        case .conv(_, let w, let b, _): w.count + (b?.count ?? 0)
        case .fullyConnected(_, _, let w, let b, _): w.count + (b?.count ?? 0)
        default: 0
        }
    }
}

/// The kernels the device library has, one per kind of layer (the C export emits only the
/// kernels a model uses, and the flash budget counts each one's code once).
public enum KernelKind: String, Sendable, Codable, CaseIterable, Hashable, Comparable {
    /// `arm_convolve_s8`-style convolution (also grouped, 1×1, k×1, 1×k).
    case conv
    /// `arm_depthwise_conv_s8`-style depthwise convolution.
    case depthwiseConv = "depthwise_conv"
    /// `arm_fully_connected_s8`-style fully connected layer.
    case fullyConnected = "fully_connected"
    /// `arm_max_pool_s8`-style max pooling.
    case maxPool = "max_pool"
    /// `arm_avgpool_s8`-style average pooling.
    case averagePool = "avg_pool"
    /// `arm_elementwise_add_s8`-style addition.
    case add
    /// Clamp to an activation range (standalone ReLU/Clip).
    case clamp
    /// Flatten/Reshape (a copy only when the memory layout changes).
    case reshape
    /// An elementwise function: an int8 lookup table (float: the function itself).
    case lookup
    /// `arm_elementwise_mul_s8`-style product, the second input optionally one value per channel.
    case mul

    /// Order of declaration, for stable listings.
    public static func < (a: KernelKind, b: KernelKind) -> Bool {
        allCases.firstIndex(of: a)! < allCases.firstIndex(of: b)!
    }
}

/// One layer of a device model (float or int8): its name, what it computes, the tensors it reads and the one it writes.
public struct ModelLayer<Op: Sendable & Codable & Equatable>: Sendable, Codable, Equatable {
    /// The layer name: the weight initializer without `.weight` (`conv2`), else the node name.
    public var name: String
    /// The operation and its parameters (float `DeviceOp`, or integer `QuantizedOp`).
    public var op: Op
    /// Input tensor names (two for `add` and `mul`, one otherwise).
    public var inputs: [String]
    /// Output tensor name.
    public var output: String
    /// The ONNX nodes this layer stands for (a Conv with its BatchNorm and Relu, …).
    public var nodes: [String]

    /// A layer.
    public init(name: String, op: Op, inputs: [String], output: String, nodes: [String]) {
        self.name = name
        self.op = op
        self.inputs = inputs
        self.output = output
        self.nodes = nodes
    }
}

/// A float layer of a `DeviceGraph`.
public typealias DeviceLayer = ModelLayer<DeviceOp>

/// A pointwise function the device evaluates; int8 models store it as a table over the 256
/// input values, computed in Swift at quantisation time (exact, and free of libm on the device).
public enum ElementwiseFunction: Sendable, Codable, Equatable, Hashable, CustomStringConvertible {
    /// x · min(max(x + 3, 0), 6) / 6 (ONNX HardSwish, or Add/Clip/Mul/Div written out).
    case hardSwish
    /// max(0, min(1, alpha · x + beta)) (ONNX HardSigmoid).
    case hardSigmoid(alpha: Float, beta: Float)
    /// x ≥ 0 ? x : alpha · x (ONNX LeakyRelu).
    case leakyRelu(alpha: Float)

    /// The function in float32, computed as onnxruntime's CPU kernels do.
    public func callAsFunction(_ x: Float) -> Float {
        switch self {
        case .hardSwish: x * min(max(x + 3, 0), 6) / 6
        case .hardSigmoid(let a, let b): max(0, min(1, a * x + b))
        case .leakyRelu(let a): x >= 0 ? x : a * x
        }
    }

    /// `hard_swish`, `hard_sigmoid(0.2, 0.5)`, `leaky_relu(0.01)`.
    public var description: String {
        switch self {
        case .hardSwish: "hard_swish"
        case .hardSigmoid(let a, let b): "hard_sigmoid(\(a), \(b))"
        case .leakyRelu(let a): "leaky_relu(\(a))"
        }
    }
}
