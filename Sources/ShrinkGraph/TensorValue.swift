import ShrinkTensor

/// An ONNX element type (`TensorProto.DataType`); unknown codes are kept, not rejected.
public struct ElementType: RawRepresentable, Sendable, Hashable, CustomStringConvertible {
    /// The ONNX `TensorProto.DataType` code.
    public var rawValue: Int32
    /// Wraps an ONNX data type code.
    public init(rawValue: Int32) { self.rawValue = rawValue }

    /// `UNDEFINED` (0).
    public static let undefined = ElementType(rawValue: 0)
    /// `FLOAT` (float32).
    public static let float = ElementType(rawValue: 1)
    /// `UINT8`.
    public static let uint8 = ElementType(rawValue: 2)
    /// `INT8`.
    public static let int8 = ElementType(rawValue: 3)
    /// `UINT16`.
    public static let uint16 = ElementType(rawValue: 4)
    /// `INT16`.
    public static let int16 = ElementType(rawValue: 5)
    /// `INT32`.
    public static let int32 = ElementType(rawValue: 6)
    /// `INT64`.
    public static let int64 = ElementType(rawValue: 7)
    /// `STRING`.
    public static let string = ElementType(rawValue: 8)
    /// `BOOL`.
    public static let bool = ElementType(rawValue: 9)
    /// `FLOAT16`.
    public static let float16 = ElementType(rawValue: 10)
    /// `DOUBLE` (float64).
    public static let double = ElementType(rawValue: 11)
    /// `UINT32`.
    public static let uint32 = ElementType(rawValue: 12)
    /// `UINT64`.
    public static let uint64 = ElementType(rawValue: 13)
    /// `BFLOAT16`.
    public static let bfloat16 = ElementType(rawValue: 16)

    /// Floating-point types, whose initializers count as parameters.
    public var isFloatingPoint: Bool {
        self == .float || self == .double || self == .float16 || self == .bfloat16
    }

    /// The ONNX spelling (`float`, `int64`, …).
    public var description: String {
        switch rawValue {
        case 0: "undefined"
        case 1: "float"
        case 2: "uint8"
        case 3: "int8"
        case 4: "uint16"
        case 5: "int16"
        case 6: "int32"
        case 7: "int64"
        case 8: "string"
        case 9: "bool"
        case 10: "float16"
        case 11: "double"
        case 12: "uint32"
        case 13: "uint64"
        case 14: "complex64"
        case 15: "complex128"
        case 16: "bfloat16"
        default: "type\(rawValue)"
        }
    }
}

/// A tensor of an element type Shrink does not compute with (float16, strings, …), kept
/// exactly as it was read so that saving reproduces it.
public struct OpaqueTensor: Sendable, Hashable {
    /// Its ONNX element type.
    public let elementType: ElementType
    /// Its dimensions.
    public let shape: [Int]
    /// The tensor as read, data included.
    let proto: Onnx_TensorProto
}

/// The payload of an initializer or tensor attribute: float32 weights as a `Tensor`, other types
/// exactly as stored so that shapes, indices and masks survive a load/save round trip.
public enum TensorValue: Sendable, Hashable {
    /// float32 data, the type Shrink computes with.
    case float(Tensor)
    /// float64 data, kept exact; `floatTensor` converts.
    case double(shape: [Int], values: [Double])
    /// int64 data (Reshape shapes, Gather indices, …).
    case int64(shape: [Int], values: [Int64])
    /// int32 data.
    case int32(shape: [Int], values: [Int32])
    /// int8 data.
    case int8(shape: [Int], values: [Int8])
    /// uint8 data.
    case uint8(shape: [Int], values: [UInt8])
    /// Boolean data.
    case bool(shape: [Int], values: [Bool])
    /// Any other element type, carried through unchanged.
    case opaque(OpaqueTensor)

    /// The dimensions.
    public var shape: [Int] {
        switch self {
        case .float(let t): t.shape
        case .double(let s, _), .int64(let s, _), .int32(let s, _), .int8(let s, _),
             .uint8(let s, _), .bool(let s, _): s
        case .opaque(let o): o.shape
        }
    }

    /// The ONNX element type.
    public var elementType: ElementType {
        switch self {
        case .float: .float
        case .double: .double
        case .int64: .int64
        case .int32: .int32
        case .int8: .int8
        case .uint8: .uint8
        case .bool: .bool
        case .opaque(let o): o.elementType
        }
    }

    /// Number of elements.
    public var count: Int { shape.reduce(1, *) }

    /// The data as a float32 `Tensor`: float32 as is, float64 rounded; nil for other types.
    public var floatTensor: Tensor? {
        switch self {
        case .float(let t): t
        case .double(let s, let v): Tensor(shape: s, scalars: v.map { Float($0) })
        default: nil
        }
    }

    /// The data widened to Int64 for integer and boolean types; nil for floating point and opaque.
    public var int64Values: [Int64]? {
        switch self {
        case .int64(_, let v): v
        case .int32(_, let v): v.map(Int64.init)
        case .int8(_, let v): v.map(Int64.init)
        case .uint8(_, let v): v.map(Int64.init)
        case .bool(_, let v): v.map { $0 ? 1 : 0 }
        default: nil
        }
    }

    /// The data as Ints (see `int64Values`).
    public var intValues: [Int]? { int64Values?.map { Int(truncatingIfNeeded: $0) } }

    /// A 1-D int64 tensor, the form ONNX uses for shapes and axes.
    public static func int64Vector(_ values: [Int]) -> TensorValue {
        .int64(shape: [values.count], values: values.map(Int64.init))
    }
}
