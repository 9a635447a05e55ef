import Foundation

/// The element types Shrink reads and writes in NumPy files.
public enum NumPyDType: String, Sendable, CaseIterable {
    case float32 = "f4", float64 = "f8", int64 = "i8", int32 = "i4", uint8 = "u1", bool = "b1"

    /// Bytes per element.
    public var itemSize: Int {
        switch self {
        case .float32, .int32: return 4
        case .float64, .int64: return 8
        case .uint8, .bool: return 1
        }
    }

    /// The `descr` string NumPy writes for this type in little-endian order.
    public var descr: String { itemSize == 1 ? "|" + rawValue : "<" + rawValue }
}

/// An n-dimensional NumPy array as raw little-endian bytes plus its type and shape.
///
/// Keeping the bytes (rather than converting on read) makes round trips bit-exact and lets
/// callers choose the conversion they need.
public struct NumPyArray: Sendable, Equatable {
    /// Element type.
    public var dtype: NumPyDType
    /// Shape (empty for a 0-d scalar).
    public var shape: [Int]
    /// Elements in C order, little-endian.
    public var bytes: Data

    /// Number of elements.
    public var count: Int { bytes.count / dtype.itemSize }

    /// Elements × `itemSize` bytes of an array of `shape`; nil if a dimension is negative or the
    /// product overflows `Int` (shapes come from files, so this must not trap).
    public static func byteCount(shape: [Int], itemSize: Int) -> Int? {
        var n = itemSize
        for d in shape {
            guard d >= 0 else { return nil }
            let (p, overflow) = n.multipliedReportingOverflow(by: d)
            if overflow { return nil }
            n = p
        }
        return n
    }

    /// An array from raw little-endian bytes; the byte count must fit `dtype` and `shape`.
    public init(dtype: NumPyDType, shape: [Int], bytes: Data) throws(NumPyError) {
        guard let expected = Self.byteCount(shape: shape, itemSize: dtype.itemSize) else {
            throw NumPyError(file: nil, message: "array of \(dtype) \(shape): the shape is negative or too large to address")
        }
        guard bytes.count == expected else {
            throw NumPyError(file: nil, message: "array of \(dtype) \(shape) needs \(expected) bytes, got \(bytes.count)")
        }
        self.dtype = dtype
        self.shape = shape
        self.bytes = bytes
    }

    /// A float32 array holding `tensor`.
    public init(_ tensor: Tensor) {
        self.dtype = .float32
        self.shape = tensor.shape
        self.bytes = tensor.scalars.withUnsafeBytes { Data($0) }
    }

    /// An array of any fixed-width numeric Swift type whose layout matches `dtype`.
    public init<T: FixedWidthInteger>(integers: [T], shape: [Int], dtype: NumPyDType) {
        precondition(MemoryLayout<T>.size == dtype.itemSize && shape.reduce(1, *) == integers.count)
        self.dtype = dtype
        self.shape = shape
        self.bytes = integers.map { $0.littleEndian }.withUnsafeBytes { Data($0) }
    }

    /// A float64 array.
    public init(doubles: [Double], shape: [Int]) {
        precondition(shape.reduce(1, *) == doubles.count)
        self.dtype = .float64
        self.shape = shape
        self.bytes = doubles.withUnsafeBytes { Data($0) }
    }

    /// The elements converted to `Float` (float64 and integer types are converted; bool is 0/1).
    public func floats() -> [Float] {
        switch dtype {
        case .float32: return load(Float.self)
        case .float64: return load(Double.self).map { Float($0) }
        case .int64: return load(Int64.self).map { Float($0) }
        case .int32: return load(Int32.self).map { Float($0) }
        case .uint8, .bool: return bytes.map { Float($0) }
        }
    }

    /// The elements converted to `Double`.
    public func doubles() -> [Double] {
        switch dtype {
        case .float32: return load(Float.self).map { Double($0) }
        case .float64: return load(Double.self)
        default: return integers().map { Double($0) }
        }
    }

    /// The elements as integers; nil for floating-point arrays (labels must be integral).
    public func integersIfIntegral() -> [Int64]? {
        switch dtype {
        case .float32, .float64: return nil
        default: return integers()
        }
    }

    private func integers() -> [Int64] {
        switch dtype {
        case .int64: return load(Int64.self)
        case .int32: return load(Int32.self).map { Int64($0) }
        case .uint8, .bool: return bytes.map { Int64($0) }
        // Not reached for float arrays (callers branch on dtype first); saturating all the same.
        case .float32: return load(Float.self).map { Int64(exactly: $0.rounded(.towardZero)) ?? ($0 > 0 ? .max : .min) }
        case .float64: return load(Double.self).map { Int64(exactly: $0.rounded(.towardZero)) ?? ($0 > 0 ? .max : .min) }
        }
    }

    /// The array as a float32 `Tensor` of the same shape (converting other types).
    public func tensor() -> Tensor { Tensor(shape: shape, scalars: floats()) }

    private func load<T>(_: T.Type) -> [T] {
        // Data may be a slice with an unaligned base, so copy element-wise through loadUnaligned.
        bytes.withUnsafeBytes { raw in
            (0..<count).map { raw.loadUnaligned(fromByteOffset: $0 * MemoryLayout<T>.stride, as: T.self) }
        }
    }
}

/// A NumPy file that could not be read or written, with the file and the reason.
public struct NumPyError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The file concerned, when known.
    public var file: String?
    /// What is wrong and, where possible, how to fix it.
    public var message: String

    /// A new error.
    public init(file: String?, message: String) {
        self.file = file
        self.message = message
    }

    /// `file: message`.
    public var description: String { file.map { "\($0): \(message)" } ?? message }
}
