import Foundation

/// The int8 quantisation of one activation tensor: `real = scale · (q − zeroPoint)`.
public struct TensorQuantization: Sendable, Codable, Equatable, Hashable {
    /// The step between two int8 values.
    public var scale: Float
    /// The int8 value that stands for 0.
    public var zeroPoint: Int32

    /// A quantisation.
    public init(scale: Float, zeroPoint: Int32) {
        self.scale = scale
        self.zeroPoint = zeroPoint
    }

    /// TFLite's choice for a calibrated range: the range widened to hold 0, scale = width / 255,
    /// the zero point from whichever end gives the smaller error, rounded and clamped to int8.
    public init(range: ActivationRange) {
        let lo = Double(min(range.lo, 0)), hi = Double(max(range.hi, 0))
        guard hi > lo else {
            self.init(scale: 1, zeroPoint: -128)
            return
        }
        let qmin = -128.0, qmax = 127.0
        // The zero point comes from the scale in Double (as TFLite computes it); the scale is then stored as float32.
        let s = (hi - lo) / (qmax - qmin)
        let scale = Float(s)
        let fromMin = qmin - lo / s, fromMax = qmax - hi / s
        let errMin = abs(qmin) + abs(lo / s), errMax = abs(qmax) + abs(hi / s)
        let zp = errMin < errMax ? fromMin : fromMax
        let nudged = min(max(zp.rounded(.toNearestOrAwayFromZero), qmin), qmax)
        self.init(scale: scale, zeroPoint: Int32(nudged))
    }

    /// `QuantizeLinear` of `x`.
    public func quantize(_ x: Float) -> Int8 { FixedPoint.quantize(x, scale: scale, zeroPoint: zeroPoint) }
    /// `DequantizeLinear` of `q`.
    public func dequantize(_ q: Int8) -> Float { FixedPoint.dequantize(q, scale: scale, zeroPoint: zeroPoint) }

    /// The int8 bounds of `activation` on this tensor (TFLite's `CalculateActivationRangeQuantized`).
    public func range(of activation: Activation) -> ClampRange {
        let (lo, hi) = activation.bounds
        func q(_ f: Float) -> Int32 {
            let v = (f / scale).rounded(.toNearestOrAwayFromZero)
            return Int32(min(max(Double(v) + Double(zeroPoint), -1000), 1000))
        }
        let a = lo.isFinite ? max(-128, q(lo)) : -128
        let b = hi.isFinite ? min(127, q(hi)) : 127
        return ClampRange(min: min(a, b), max: max(a, b))
    }
}

/// Output clamping bounds in int8.
public struct ClampRange: Sendable, Codable, Equatable, Hashable {
    /// The lowest output value.
    public var min: Int32
    /// The highest output value.
    public var max: Int32
    /// A range.
    public init(min: Int32, max: Int32) {
        self.min = min
        self.max = max
    }
    /// The whole of int8.
    public static let full = ClampRange(min: -128, max: 127)
}

/// The parameters of an int8 addition (TFLite's, as `arm_elementwise_add_s8` takes them).
public struct AddQuantization: Sendable, Codable, Equatable, Hashable {
    /// Scales input 1 to the common scale.
    public var input1: Requantization
    /// Scales input 2 to the common scale.
    public var input2: Requantization
    /// The left shift applied to both inputs first (20 for int8).
    public var leftShift: Int32
    /// Scales the sum to the output.
    public var output: Requantization
    /// Output bounds (a fused ReLU narrows them).
    public var clamp: ClampRange

    /// Add parameters.
    public init(input1: Requantization, input2: Requantization, leftShift: Int32, output: Requantization, clamp: ClampRange) {
        self.input1 = input1
        self.input2 = input2
        self.leftShift = leftShift
        self.output = output
        self.clamp = clamp
    }
}

/// What an int8 layer computes, with its integer parameters.
public enum QuantizedOp: Sendable, Codable, Equatable {
    /// Convolution: int8 weights `[outC, inC/group, kH, kW]` (ONNX order), symmetric per output
    /// channel; int32 bias with scale input·weight; one requantisation per output channel.
    case conv(ConvGeometry, weights: [Int8], weightScales: [Float], bias: [Int32]?, requant: [Requantization], clamp: ClampRange)
    /// Fully connected: int8 weights `[outputs, inputs]`, one symmetric scale for the tensor (as
    /// `arm_fully_connected_s8` takes it), int32 bias, one requantisation.
    case fullyConnected(inputs: Int, outputs: Int, weights: [Int8], weightScale: Float, bias: [Int32]?,
                        requant: Requantization, clamp: ClampRange)
    /// Max pooling; output quantisation = input quantisation.
    case maxPool(PoolGeometry, clamp: ClampRange)
    /// Average pooling, CMSIS-NN's rounding; output quantisation = input quantisation.
    case averagePool(PoolGeometry, countIncludePad: Bool, clamp: ClampRange)
    /// Elementwise addition.
    case add(AddQuantization)
    /// Clamp (a standalone ReLU/Clip); output quantisation = input quantisation.
    case clamp(ClampRange)
    /// Flatten/Reshape; output quantisation = input quantisation.
    case reshape
    /// An elementwise function as a table: `out = table[in + 128]`, each entry
    /// `QuantizeLinear(f(DequantizeLinear(in)))` computed once in Swift.
    case lookup(ElementwiseFunction, table: [Int8])
    /// TFLite's int8 Mul: `requantise((x1 − zp1)·(x2 − zp2)) + zp_out`, clamped; `perChannel`
    /// when the second input holds one value per channel of the first.
    case mul(requant: Requantization, clamp: ClampRange, perChannel: Bool)

    /// The kernel that runs it.
    public var kernel: KernelKind {
        switch self {
        case .lookup: .lookup
        case .mul: .mul
        case .conv(let g, _, _, _, _, _): g.isDepthwise ? .depthwiseConv : .conv
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
        case .conv(let g, _, _, _, _, _): g.macs
        case .fullyConnected(let i, let o, _, _, _, _, _): i * o
        default: 0
        }
    }
}

/// One int8 layer.
public typealias QuantizedLayer = ModelLayer<QuantizedOp>

/// An int8 model: every weight, bias and requantisation parameter computed once (in Swift),
/// shared by the integer engine, the QDQ ONNX writer and the C export.
public struct QuantizedModel: Sendable, Codable, Equatable {
    /// The input tensor (one sample, ONNX layout).
    public var input: DeviceTensor
    /// The output tensor.
    public var output: DeviceTensor
    /// Every activation tensor.
    public var tensors: [String: DeviceTensor]
    /// The quantisation of every activation tensor.
    public var quantization: [String: TensorQuantization]
    /// Layers in execution order.
    public var layers: [QuantizedLayer]
    /// Notes carried over from lowering and added by quantisation.
    public var notes: [String]
    /// How activation ranges were calibrated.
    public var calibration: CalibrationMethod

    /// A model.
    public init(input: DeviceTensor, output: DeviceTensor, tensors: [String: DeviceTensor],
                quantization: [String: TensorQuantization], layers: [QuantizedLayer], notes: [String],
                calibration: CalibrationMethod) {
        self.input = input
        self.output = output
        self.tensors = tensors
        self.quantization = quantization
        self.layers = layers
        self.notes = notes
        self.calibration = calibration
    }

    /// The input's quantisation.
    public var inputQuantization: TensorQuantization { quantization[input.name]! }
    /// The output's quantisation.
    public var outputQuantization: TensorQuantization { quantization[output.name]! }
    /// Multiply-accumulates of one sample.
    public var macs: Int { layers.reduce(0) { $0 + $1.op.macs } }
}
