import ShrinkTensor

/// The operator of a layer Shrink can factorise.
public enum LayerOperator: String, Sendable, Hashable, CaseIterable {
    /// ONNX `Gemm` with a constant B (the weight).
    case gemm = "Gemm"
    /// ONNX `MatMul` with a constant right-hand side (the weight).
    case matMul = "MatMul"
    /// ONNX `Conv` with a constant kernel.
    case conv = "Conv"
}

/// The geometry of a convolution: kernel, stride, padding, dilation and grouping, all explicit.
///
/// `auto_pad` is resolved into `pads` when a layer is read from a graph, so that splitting the
/// padding between stages is plain arithmetic.
public struct ConvGeometry: Sendable, Hashable {
    /// Spatial kernel size, one entry per spatial axis (kh, kw for 2-D).
    public var kernel: [Int]
    /// Strides per spatial axis.
    public var strides: [Int]
    /// ONNX order: all begins, then all ends (`[top, left, bottom, right]` for 2-D).
    public var pads: [Int]
    /// Dilations per spatial axis.
    public var dilations: [Int]
    /// The `group` attribute.
    public var group: Int

    /// A geometry; missing strides, pads and dilations take the ONNX defaults.
    public init(kernel: [Int], strides: [Int]? = nil, pads: [Int]? = nil, dilations: [Int]? = nil, group: Int = 1) {
        self.kernel = kernel
        self.strides = strides ?? Array(repeating: 1, count: kernel.count)
        self.pads = pads ?? Array(repeating: 0, count: 2 * kernel.count)
        self.dilations = dilations ?? Array(repeating: 1, count: kernel.count)
        self.group = group
    }

    /// A 1×…×1 geometry with unit stride and no padding (a pointwise stage).
    public static func pointwise(spatialRank: Int) -> ConvGeometry {
        ConvGeometry(kernel: Array(repeating: 1, count: spatialRank))
    }

    /// Number of spatial axes.
    public var spatialRank: Int { kernel.count }

    /// Whether every kernel extent is 1.
    public var isPointwise: Bool { kernel.allSatisfy { $0 == 1 } }

    /// The output spatial size for an input of `input` (ONNX's floor formula).
    public func outputSpatial(for input: [Int]) -> [Int] {
        let n = spatialRank
        return (0..<n).map { i in
            let padded = input[i] + pads[i] + pads[i + n]
            let extent = dilations[i] * (kernel[i] - 1) + 1
            return padded >= extent ? (padded - extent) / strides[i] + 1 : 0
        }
    }

    /// The geometry restricted to axis `axis`: the other axes get kernel 1, stride 1, no
    /// padding and dilation 1. Chaining the restrictions to every axis reproduces the original
    /// output size, which is how `cp4` and `spatial-svd` split a kernel between stages.
    public func restricted(toAxis axis: Int) -> ConvGeometry {
        let n = spatialRank
        var g = ConvGeometry.pointwise(spatialRank: n)
        g.kernel[axis] = kernel[axis]
        g.strides[axis] = strides[axis]
        g.dilations[axis] = dilations[axis]
        g.pads[axis] = pads[axis]
        g.pads[axis + n] = pads[axis + n]
        return g
    }

    /// The same geometry with a different `group`.
    public func withGroup(_ g: Int) -> ConvGeometry {
        var c = self
        c.group = g
        return c
    }
}

/// One factorisable layer, detached from any graph: its weights in a canonical layout and
/// the sizes its cost depends on.
///
/// Canonical weight layouts: dense layers (`Gemm`, `MatMul`) hold W as out×in (M×N), so that
/// y = W x whatever `transB` or the MatMul operand order was; convolutions hold the ONNX
/// kernel T×(S/group)×k₁×…. `alpha` is folded into W and `beta` into the bias when reading
/// a Gemm, so `weight` and `bias` alone define the layer's linear map.
public struct LayerDescriptor: Sendable {
    /// The layer's name (its weight initializer without `.weight`, else its node name).
    public var name: String
    /// The operator.
    public var op: LayerOperator
    /// The weight in canonical layout (see the type's documentation).
    public var weight: Tensor
    /// The bias as it will be stored (Gemm's C, possibly broadcast; a Conv's B), if any.
    public var bias: Tensor?
    /// Convolution geometry; nil for dense layers.
    public var conv: ConvGeometry?
    /// Input spatial size of a convolution (H, W for 2-D), needed for exact MACs.
    public var inputSpatial: [Int]
    /// For dense layers: how many input rows one sample feeds (1 for Gemm; for a MatMul on
    /// [batch, seq, N] it is seq), which multiplies the MACs.
    public var rowsPerSample: Int

    /// A dense layer with weight W (out×in).
    public static func dense(name: String, op: LayerOperator = .gemm, weight: Tensor, bias: Tensor?,
                             rowsPerSample: Int = 1) -> LayerDescriptor {
        LayerDescriptor(name: name, op: op, weight: weight, bias: bias, conv: nil, inputSpatial: [],
                        rowsPerSample: rowsPerSample)
    }

    /// A convolution with kernel T×(S/group)×k… and an input of `inputSpatial`.
    public static func convolution(name: String, weight: Tensor, bias: Tensor?, geometry: ConvGeometry,
                                   inputSpatial: [Int]) -> LayerDescriptor {
        LayerDescriptor(name: name, op: .conv, weight: weight, bias: bias, conv: geometry,
                        inputSpatial: inputSpatial, rowsPerSample: 1)
    }

    /// Output features (M) or output channels (T).
    public var outputs: Int { weight.shape.first ?? 0 }

    /// Input features (N) or input channels (S, counting all groups).
    public var inputs: Int {
        guard weight.rank >= 2 else { return 0 }
        return weight.shape[1] * (conv?.group ?? 1)
    }

    /// Output spatial size of a convolution; empty for dense layers.
    public var outputSpatial: [Int] {
        conv.map { $0.outputSpatial(for: inputSpatial) } ?? []
    }

    /// The layer's own stage, as it stands before any rewrite.
    public var originalStage: StageShape {
        if let conv {
            return StageShape(suffix: "", kind: .conv(conv), inChannels: inputs, outChannels: outputs,
                              inputSpatial: inputSpatial, hasBias: bias != nil, biasCount: bias?.count ?? 0)
        }
        return StageShape(suffix: "", kind: op == .matMul ? .matMul : .gemm, inChannels: inputs,
                          outChannels: outputs, rowsPerSample: rowsPerSample, hasBias: bias != nil,
                          biasCount: bias?.count ?? 0)
    }

    /// Parameters and MACs of the layer as it is.
    public var cost: LayerCost { originalStage.cost }

    /// The weight viewed as a matrix: out × (everything else), i.e. W for dense layers and the
    /// T × (S·k₁·k₂…) im2col matrix for convolutions.
    public var weightMatrix: Tensor { weight.reshaped([outputs, weight.count / max(outputs, 1)]) }

    /// Checks the descriptor is self-consistent (used on values built by hand or from files).
    public func validate() throws(DecompositionError) {
        guard weight.shape.allSatisfy({ $0 >= 1 }) else {
            throw DecompositionError(.invalidInput, layer: name, "the weight has an empty axis: \(weight.shape)")
        }
        if let conv {
            let n = conv.spatialRank
            guard weight.rank == 2 + n, Array(weight.shape.dropFirst(2)) == conv.kernel else {
                throw DecompositionError(.invalidInput, layer: name,
                                         "kernel shape \(weight.shape) does not match kernel_shape \(conv.kernel)")
            }
            guard conv.strides.count == n, conv.dilations.count == n, conv.pads.count == 2 * n,
                  inputSpatial.count == n, conv.group >= 1 else {
                throw DecompositionError(.invalidInput, layer: name, "inconsistent convolution attributes")
            }
            guard outputSpatial.allSatisfy({ $0 > 0 }) else {
                throw DecompositionError(.invalidInput, layer: name,
                                         "input \(inputSpatial) is too small for the kernel \(conv.kernel)")
            }
        } else {
            guard weight.rank == 2 else {
                throw DecompositionError(.invalidInput, layer: name, "dense weight must be a matrix, got \(weight.shape)")
            }
        }
        if let bias, conv != nil, bias.count != outputs {
            throw DecompositionError(.invalidInput, layer: name, "bias has \(bias.count) entries for \(outputs) outputs")
        }
    }
}
