/// One use of an operator the runtime does not implement.
public struct UnsupportedUse: Sendable, Equatable {
    /// The operator.
    public var op: String
    /// The node's name.
    public var node: String
    /// What form of the operator is missing, when it is a form (an attribute value) rather than the op.
    public var detail: String?

    /// A use of `op` at `node`.
    public init(op: String, node: String, detail: String? = nil) {
        self.op = op
        self.node = node
        self.detail = detail
    }
}

/// Why a model could not be prepared or run; every case names what the user can act on.
public enum RuntimeError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The graph uses an operator (or a form of one) that the runtime does not implement.
    case unsupportedOperator(op: String, node: String, detail: String?, supported: [String])
    /// Several operators (or forms of them) the runtime does not implement, all named at once.
    case unsupportedOperators([UnsupportedUse], supported: [String])
    /// The graph itself is malformed (cycles, dangling inputs, values of unusable types).
    case invalidModel(message: String)
    /// A node's attributes or constant inputs are malformed.
    case invalidNode(node: String, op: String, message: String)
    /// A kernel rejected its operands while running.
    case nodeFailed(node: String, op: String, message: String)
    /// A value the graph needs was not fed.
    case missingInput(name: String)
    /// A requested output or feed names no value of the graph.
    case unknownValue(name: String, role: String)
    /// A fed tensor's shape does not fit the declared input.
    case inputShapeMismatch(name: String, expected: String, got: [Int])
    /// A fed tensor's element type does not fit the declared input.
    case inputTypeMismatch(name: String, expected: String, got: String)

    /// One line for the user.
    public var description: String {
        switch self {
        case let .unsupportedOperator(op, node, detail, supported):
            return "unsupported operator \(op) at node \(node)\(detail.map { " (\($0))" } ?? ""); "
                + "the runtime supports: \(supported.joined(separator: ", "))"
        case let .unsupportedOperators(uses, supported):
            var order: [String] = []
            var byOp: [String: [UnsupportedUse]] = [:]
            for u in uses {
                if byOp[u.op] == nil { order.append(u.op) }
                byOp[u.op, default: []].append(u)
            }
            let parts = order.map { op -> String in
                let us = byOp[op] ?? []
                let nodes = us.prefix(3).map { $0.node + ($0.detail.map { " (\($0))" } ?? "") }.joined(separator: ", ")
                return "\(op) at \(nodes)\(us.count > 3 ? " and \(us.count - 3) more" : "")"
            }
            return "unsupported operators: \(parts.joined(separator: "; ")); the runtime supports: \(supported.joined(separator: ", "))"
        case let .invalidModel(message):
            return "invalid model: \(message)"
        case let .invalidNode(node, op, message):
            return "node \(node) (\(op)): \(message)"
        case let .nodeFailed(node, op, message):
            return "node \(node) (\(op)) failed: \(message)"
        case let .missingInput(name):
            return "no value given for model input '\(name)'"
        case let .unknownValue(name, role):
            return "\(role) '\(name)' is not a value of the model"
        case let .inputShapeMismatch(name, expected, got):
            return "input '\(name)' has shape \(got) but the model expects \(expected)"
        case let .inputTypeMismatch(name, expected, got):
            return "input '\(name)' holds \(got) data but the model expects \(expected)"
        }
    }
}
