/// Applicability checks shared by the convolution methods.
enum ConvChecks {
    /// A group-1 convolution with `spatialRanks` spatial axes, with a message naming `method`.
    static func require(_ layer: LayerDescriptor, method: MethodName, spatialRanks: Set<Int>,
                        alternatives: String, needsInputChannels: Bool = false) throws(DecompositionError) {
        try layer.validate()
        guard let conv = layer.conv else {
            throw DecompositionError(.notApplicable, layer: layer.name,
                                     "\(method) applies to convolutions, this layer is a \(layer.op.rawValue)",
                                     hint: "use svd for Gemm and MatMul")
        }
        guard conv.group == 1 else {
            let kind = conv.group == layer.inputs && conv.group == layer.outputs ? "depthwise " : ""
            throw DecompositionError(.unsupported, layer: layer.name,
                                     "\(method) needs a group-1 convolution, this \(kind)one has group \(conv.group)",
                                     hint: "keep it; low-rank methods do not shrink grouped kernels")
        }
        guard spatialRanks.contains(conv.spatialRank) else {
            let want = spatialRanks.sorted().map { "\($0)-D" }.joined(separator: " or ")
            throw DecompositionError(.unsupported, layer: layer.name,
                                     "\(method) needs a \(want) convolution, this one is \(conv.spatialRank)-D",
                                     hint: alternatives.isEmpty ? nil : alternatives)
        }
        guard !conv.isPointwise else {
            throw DecompositionError(.notApplicable, layer: layer.name,
                                     "\(method) needs a spatial kernel, this convolution is 1×1",
                                     hint: "use svd for 1×1 convolutions")
        }
        if needsInputChannels && layer.inputs == 1 {
            // With S = 1 the first 1×1 stage only rescales the input: CP degenerates into a
            // matrix factorisation of the T×k kernel that tucker2 (R_out, 1) expresses without
            // the redundant stage, and CP-ALS on a size-1 mode is numerically degenerate.
            throw DecompositionError(.notApplicable, layer: layer.name,
                                     "\(method) needs more than one input channel to save anything",
                                     hint: "use tucker2 with Rin = 1, or spatial-svd")
        }
    }
}
