import ShrinkTensor

/// An int64 tensor: shapes, indices and axes flow through a graph as these.
public struct IntTensor: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The size of each axis, outermost first.
    public var shape: [Int]
    /// The elements in row-major order; `values.count == shape.reduce(1, *)`.
    public var values: [Int64]

    /// Wraps `values` (row-major) in a tensor of `shape`; the counts must agree.
    public init(shape: [Int], values: [Int64]) {
        precondition(shape.reduce(1, *) == values.count, "shape \(shape) does not hold \(values.count) values")
        self.shape = shape
        self.values = values
    }

    /// A 1-D tensor.
    public init(_ values: [Int64]) { self.init(shape: [values.count], values: values) }

    /// Number of elements.
    public var count: Int { values.count }

    /// A short human-readable form.
    public var description: String {
        "IntTensor(shape: \(shape), \(values.prefix(8))\(count > 8 ? "…" : ""))"
    }
}

/// A runtime value: the executor moves float activations and int64 shape/index tensors alike.
public enum Value: Sendable, Equatable, CustomStringConvertible {
    /// A float32 tensor.
    case float(Tensor)
    /// An int64 tensor.
    case int64(IntTensor)

    /// The shape, whatever the element type.
    public var shape: [Int] {
        switch self {
        case .float(let t): return t.shape
        case .int64(let t): return t.shape
        }
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// The element type's ONNX name, for messages.
    public var typeName: String {
        switch self {
        case .float: return "float"
        case .int64: return "int64"
        }
    }

    /// The float tensor, or nil for an int64 value.
    public var floatTensor: Tensor? {
        if case .float(let t) = self { return t }
        return nil
    }

    /// The int64 tensor, or nil for a float value.
    public var intTensor: IntTensor? {
        if case .int64(let t) = self { return t }
        return nil
    }

    /// The same elements under a new shape (element counts must agree; checked by callers).
    func withShape(_ shape: [Int]) -> Value {
        switch self {
        case .float(let t): return .float(Tensor(shape: shape, scalars: t.scalars))
        case .int64(let t): return .int64(IntTensor(shape: shape, values: t.values))
        }
    }

    /// A short human-readable form.
    public var description: String {
        switch self {
        case .float(let t): return t.description
        case .int64(let t): return t.description
        }
    }
}

/// A kernel's complaint about its operands; the executor adds the node's name and op.
public struct KernelError: Error, Sendable, Equatable, CustomStringConvertible {
    /// What is wrong, in terms of the operands ("input shapes [2, 3] and [4] cannot broadcast").
    public var message: String
    /// Wraps a message.
    public init(_ message: String) { self.message = message }
    /// The message.
    public var description: String { message }
}

/// Normalises a possibly negative axis against `rank`, or throws naming the offending value.
@inline(__always)
func normalizedAxis(_ axis: Int, rank: Int, what: String = "axis") throws -> Int {
    let a = axis < 0 ? axis + rank : axis
    guard a >= 0 && a < rank else { throw KernelError("\(what) \(axis) is out of range for rank \(rank)") }
    return a
}

@inline(__always)
func product<C: Collection>(_ c: C) -> Int where C.Element == Int { c.reduce(1, *) }

/// The most elements one tensor may have: a quarter of the memory the process may use, in int64
/// elements (`MemoryBudget`). Larger sizes come from malformed or hostile models (a
/// ConstantOfShape of [2^31, 8]) and are refused instead of aborting on allocation.
let maximumElementCount = min(1 << 34, MemoryBudget.bytesPerArray / 8)

/// The element count of `shape`, or an error when it overflows or exceeds `maximumElementCount`.
func checkedCount(_ shape: [Int], _ what: String = "result") throws -> Int {
    var n = 1
    for d in shape {
        guard d >= 0 else { throw KernelError("\(what) shape \(shape) has a negative dimension") }
        let (m, overflow) = n.multipliedReportingOverflow(by: d)
        guard !overflow, m <= maximumElementCount else {
            throw KernelError("\(what) shape \(shape) is too large (more than \(maximumElementCount) elements, a quarter of the memory this process may use)")
        }
        n = m
    }
    return n
}
