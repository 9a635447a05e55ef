/// How many inputs and outputs a standard ONNX operator takes at an opset (recurrent layers may
/// omit their first output and return only the last state), so that a malformed
/// node (an `Add` with one input, a `Conv` whose weight is omitted) is refused when the model
/// is loaded, naming the node, instead of failing deep inside a command.
public struct OperatorArity: Sendable, Equatable {
    /// Inputs that must be given (non-empty), counted from the first.
    public var required: Int
    /// The most inputs the operator takes; nil for variadic operators.
    public var maxInputs: Int?
    /// The most outputs the operator has.
    public var maxOutputs: Int

    /// An arity: `required` inputs up to `maxInputs`, one output up to `maxOutputs`.
    public init(_ required: Int, _ maxInputs: Int?, outputs maxOutputs: Int = 1) {
        self.required = required
        self.maxInputs = maxInputs
        self.maxOutputs = maxOutputs
    }

    private static let unary: Set<String> = [
        "Abs", "Acos", "Acosh", "Asin", "Asinh", "Atan", "Atanh", "Cast", "Ceil", "Cos", "Cosh", "Elu", "Erf", "Exp",
        "Flatten", "Floor", "Gelu", "GlobalAveragePool", "GlobalMaxPool", "HardSigmoid", "HardSwish", "Identity",
        "IsInf", "IsNaN", "LeakyRelu", "Log", "LogSoftmax", "Mish", "Neg", "Not", "Reciprocal", "Relu", "Round",
        "Selu", "Shape", "Sigmoid", "Sign", "Sin", "Sinh", "Size", "Softmax", "Softplus", "Softsign", "Sqrt", "Tan",
        "Tanh", "Transpose", "ConstantOfShape", "ArgMax", "ArgMin",
    ]
    private static let binary: Set<String> = [
        "Add", "Sub", "Mul", "Div", "Pow", "Mod", "MatMul", "PRelu", "Equal", "Less", "LessOrEqual", "Greater",
        "GreaterOrEqual", "And", "Or", "Xor", "Gather", "Expand", "BitShift",
    ]
    private static let reductions: Set<String> = [
        "ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2", "ReduceSumSquare",
        "ReduceLogSumExp",
    ]

    /// The arity of standard-domain operator `op` at `opset`; nil for operators this table does
    /// not know (they are checked, if at all, by whatever runs them).
    public static func of(_ op: String, opset: Int) -> OperatorArity? {
        if unary.contains(op) { return OperatorArity(1, 1) }
        if binary.contains(op) { return OperatorArity(2, 2) }
        if reductions.contains(op) { return OperatorArity(1, 2) }
        switch op {
        case "Constant": return OperatorArity(0, 0)
        case "Conv", "ConvTranspose": return OperatorArity(2, 3)
        case "Gemm": return OperatorArity(2, 3)
        case "Max", "Min", "Sum", "Mean", "Concat": return OperatorArity(1, nil)
        case "Clip": return opset < 11 ? OperatorArity(1, 1) : OperatorArity(1, 3)
        case "MaxPool": return OperatorArity(1, 1, outputs: 2)
        case "AveragePool", "LpPool": return OperatorArity(1, 1)
        case "Reshape": return opset < 5 ? OperatorArity(1, 1) : OperatorArity(2, 2)
        case "Slice": return opset < 10 ? OperatorArity(1, 1) : OperatorArity(3, 5)
        case "Split": return OperatorArity(1, 2, outputs: Int.max)
        case "Unsqueeze": return opset < 13 ? OperatorArity(1, 1) : OperatorArity(2, 2)
        case "Squeeze": return opset < 13 ? OperatorArity(1, 1) : OperatorArity(1, 2)
        case "Pad": return opset < 11 ? OperatorArity(1, 1) : OperatorArity(2, opset < 18 ? 3 : 4)
        case "Dropout": return opset < 12 ? OperatorArity(1, 1, outputs: 2) : OperatorArity(1, 3, outputs: 2)
        case "BatchNormalization": return OperatorArity(5, 5, outputs: 5)
        case "LayerNormalization": return OperatorArity(2, 3, outputs: 3)
        case "InstanceNormalization": return OperatorArity(3, 3)
        case "Where", "Range": return OperatorArity(3, 3)
        case "Tile": return opset < 6 ? OperatorArity(3, 3) : OperatorArity(2, 2)
        case "Einsum": return OperatorArity(1, nil)
        case "If": return OperatorArity(1, 1, outputs: Int.max)
        case "LSTM": return OperatorArity(3, 8, outputs: 3)
        case "GRU", "RNN": return OperatorArity(3, 6, outputs: 2)
        case "Resize": return opset < 11 ? OperatorArity(2, 2) : OperatorArity(1, 4)
        case "Upsample": return opset < 9 ? OperatorArity(1, 1) : OperatorArity(2, 2)
        default: return nil
        }
    }
}

extension Graph {
    /// Every node whose input or output count does not fit its operator (see `OperatorArity`),
    /// one sentence each; empty when all fit. Nodes of other domains and unknown operators pass.
    public func arityProblems() -> [String] {
        let opset = opsetVersion(domain: "") ?? 13
        var problems: [String] = []
        for node in nodes {
            guard node.outputs.contains(where: { !$0.isEmpty }) else {
                problems.append("node \(node.displayName) (\(node.opType)) has no output")
                continue
            }
            guard node.isStandardDomain, let arity = OperatorArity.of(node.opType, opset: opset) else { continue }
            let what = "node \(node.displayName) (\(node.opType))"
            let count = node.inputs.count
            if count < arity.required {
                let need = arity.maxInputs == arity.required ? "\(arity.required)" : "at least \(arity.required)"
                problems.append("\(what) has \(count) input\(count == 1 ? "" : "s"); \(node.opType) takes \(need)")
            } else if let max = arity.maxInputs, count > max {
                problems.append("\(what) has \(count) inputs; \(node.opType) takes at most \(max)")
            } else if let missing = node.inputs.prefix(arity.required).firstIndex(where: \.isEmpty) {
                problems.append("\(what) leaves its required input \(missing + 1) empty")
            } else if node.outputs.count > arity.maxOutputs {
                problems.append("\(what) has \(node.outputs.count) outputs; \(node.opType) has at most \(arity.maxOutputs)")
            } else if node.outputs[0].isEmpty && !["LSTM", "GRU", "RNN"].contains(node.opType) {
                problems.append("\(what) leaves its first output empty")
            }
        }
        return problems
    }

    /// Throws `invalidModel` listing every node whose arity is wrong (see `arityProblems()`).
    public func validateArity() throws(GraphError) {
        let problems = arityProblems()
        guard !problems.isEmpty else { return }
        let shown = problems.prefix(20).joined(separator: "; ")
        let more = problems.count > 20 ? "; and \(problems.count - 20) more" : ""
        throw GraphError(.invalidModel, "malformed node\(problems.count == 1 ? "" : "s"): \(shown)\(more)",
                         hint: "the file does not follow the ONNX operator definitions; re-export the model")
    }
}
