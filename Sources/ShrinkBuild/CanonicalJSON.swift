import Foundation

/// A canonical JSON encoding: one byte sequence per value, so equal parameters give equal keys on
/// every machine and every run.
///
/// Rules: object keys sorted by their UTF-8 bytes, no whitespace, strings escaped minimally
/// (`"`, `\`, and control characters as `\n`, `\t`, … or `\u00XX`), integers in decimal, floating-point
/// numbers in Swift's shortest round-trip form (`0.1`, `1e-05`, `2.0`) — which depends only on the
/// value — and non-finite floats as the strings `"NaN"`, `"Infinity"`, `"-Infinity"` rather than
/// failing, since JSON cannot spell them. `nil` optionals are omitted from objects, like
/// `JSONEncoder` does, so adding an optional parameter does not change existing keys.
public enum CanonicalJSON {
    /// A JSON value whose numbers keep their canonical text, so nothing is lost to re-parsing.
    public indirect enum Value: Hashable, Sendable {
        /// `null`.
        case null
        /// `true` or `false`.
        case bool(Bool)
        /// A number, as its canonical text.
        case number(String)
        /// A string.
        case string(String)
        /// An array.
        case array([Value])
        /// An object; key order is irrelevant, serialisation sorts.
        case object([String: Value])
    }

    /// Errors of the canonical encoder.
    public enum EncodingError: Error, CustomStringConvertible {
        /// The value encoded nothing at the top level.
        case emptyValue(String)

        /// A one-line explanation.
        public var description: String {
            switch self {
            case .emptyValue(let type): return "canonical JSON: \(type) encoded no value"
            }
        }
    }

    /// The canonical bytes of an `Encodable` value.
    public static func encode(_ value: some Encodable) throws -> Data {
        serialize(try makeValue(value))
    }

    /// The `Value` tree of an `Encodable` value.
    public static func makeValue(_ value: some Encodable) throws -> Value {
        let encoder = TreeEncoder(codingPath: [])
        try value.encode(to: encoder)
        guard let result = encoder.root?.resolve() else {
            throw EncodingError.emptyValue(String(describing: type(of: value)))
        }
        return result
    }

    /// The canonical bytes of a `Value`.
    public static func serialize(_ value: Value) -> Data {
        var out = [UInt8]()
        write(value, to: &out)
        return Data(out)
    }

    /// The canonical text of a `Value`.
    public static func string(_ value: Value) -> String {
        var out = [UInt8]()
        write(value, to: &out)
        return String(decoding: out, as: UTF8.self)
    }

    /// Flattens a value into leaf paths (`rank`, `rules[0].method`) → canonical text of the leaf, so
    /// that two parameter sets can be compared entry by entry to explain what changed. Elements of
    /// a list of objects that each name a distinct `layer` (or `name`) are labelled by it —
    /// `searchable[conv1].max`, not `searchable[0].max` — so an explanation names the layer, and
    /// adding a layer does not shift every later index.
    /// Empty arrays and objects are leaves (`[]`, `{}`); a top-level scalar has the path `""`.
    public static func flatten(_ value: Value) -> [String: String] {
        var result = [String: String]()
        flatten(value, path: "", into: &result)
        return result
    }

    private static func flatten(_ value: Value, path: String, into result: inout [String: String]) {
        switch value {
        case .array(let items) where !items.isEmpty:
            if let labels = elementLabels(items) {
                for (label, item) in zip(labels, items) { flatten(item, path: "\(path)[\(label)]", into: &result) }
            } else {
                for (i, item) in items.enumerated() { flatten(item, path: "\(path)[\(i)]", into: &result) }
            }
        case .object(let members) where !members.isEmpty:
            for (key, member) in members {
                flatten(member, path: path.isEmpty ? key : "\(path).\(key)", into: &result)
            }
        default:
            result[path] = string(value)
        }
    }

    /// The `layer` (else `name`) string of every element, when all elements have a distinct one
    /// made of characters that read well inside `[…]`.
    private static func elementLabels(_ items: [Value]) -> [String]? {
        for key in ["layer", "name"] {
            var labels: [String] = []
            for item in items {
                guard case .object(let members) = item, case .string(let label)? = members[key], !label.isEmpty,
                      !label.contains(where: { "[].".contains($0) }) else { labels = []; break }
                labels.append(label)
            }
            if labels.count == items.count, Set(labels).count == labels.count { return labels }
        }
        return nil
    }

    private static func write(_ value: Value, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let s): writeString(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                write(item, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            // Byte order, not String's Unicode ordering: it is what other implementations can reproduce.
            let keys = members.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            for (i, key) in keys.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                writeString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                if let member = members[key] { write(member, to: &out) }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static func writeString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for byte in s.utf8 {
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: "\\\"".utf8)
            case UInt8(ascii: "\\"): out.append(contentsOf: "\\\\".utf8)
            case 0x0a: out.append(contentsOf: "\\n".utf8)
            case 0x0d: out.append(contentsOf: "\\r".utf8)
            case 0x09: out.append(contentsOf: "\\t".utf8)
            case 0x08: out.append(contentsOf: "\\b".utf8)
            case 0x0c: out.append(contentsOf: "\\f".utf8)
            case 0..<0x20:
                let hex = Array("0123456789abcdef".utf8)
                out.append(contentsOf: "\\u00".utf8)
                out.append(hex[Int(byte >> 4)])
                out.append(hex[Int(byte & 0x0f)])
            default: out.append(byte)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    static func number(_ value: Double) -> Value {
        guard value.isFinite else { return .string(value.isNaN ? "NaN" : (value < 0 ? "-Infinity" : "Infinity")) }
        return .number(value.description)
    }

    static func number(_ value: Float) -> Value {
        guard value.isFinite else { return .string(value.isNaN ? "NaN" : (value < 0 ? "-Infinity" : "Infinity")) }
        return .number(value.description)
    }
}

extension CanonicalJSON.Value: Encodable {
    /// Encodes through any encoder; the canonical encoder copies the value verbatim, others get the
    /// number parsed back (integers as integers).
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let b): try container.encode(b)
        case .number(let text):
            if let i = Int64(text) { try container.encode(i) } else { try container.encode(Double(text) ?? .nan) }
        case .string(let s): try container.encode(s)
        case .array(let items): try container.encode(items)
        case .object(let members): try container.encode(members)
        }
    }
}

// MARK: - The encoder behind `makeValue`

/// A node under construction; containers hand out references so nested containers can be filled
/// after they are created, which is how `Encoder` is specified.
private final class Node {
    enum Content {
        case value(CanonicalJSON.Value)
        case array([Node])
        case object([String: Node])
        case unset
    }

    var content: Content = .unset

    func resolve() -> CanonicalJSON.Value? {
        switch content {
        case .value(let v): return v
        case .array(let nodes): return .array(nodes.map { $0.resolve() ?? .null })
        case .object(let members):
            var out = [String: CanonicalJSON.Value]()
            for (key, node) in members {
                if let value = node.resolve() { out[key] = value }
            }
            return .object(out)
        case .unset: return nil
        }
    }

    func makeObject() {
        if case .object = content { return }
        content = .object([:])
    }

    func makeArray() {
        if case .array = content { return }
        content = .array([])
    }

    func child(forKey key: String) -> Node {
        makeObject()
        guard case .object(var members) = content else { return Node() }
        if let existing = members[key] { return existing }
        let node = Node()
        members[key] = node
        content = .object(members)
        return node
    }

    func appendChild() -> Node {
        makeArray()
        guard case .array(var items) = content else { return Node() }
        let node = Node()
        items.append(node)
        content = .array(items)
        return node
    }

    var count: Int {
        if case .array(let items) = content { return items.count }
        return 0
    }
}

private struct IndexKey: CodingKey {
    var stringValue: String { "\(intValue ?? 0)" }
    var intValue: Int?
    init(_ index: Int) { intValue = index }
    init?(stringValue: String) { nil }
    init?(intValue: Int) { self.intValue = intValue }
}

private final class TreeEncoder: Encoder {
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }
    let node: Node
    var root: Node? { node }

    init(codingPath: [any CodingKey], node: Node = Node()) {
        self.codingPath = codingPath
        self.node = node
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(KeyedContainer<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return UnkeyedContainer(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleContainer(node: node, codingPath: codingPath)
    }
}

/// Encodes one value into `node`; shared by all three container kinds.
private func encodeValue(_ value: some Encodable, into node: Node, codingPath: [any CodingKey]) throws {
    switch value {
    case let v as CanonicalJSON.Value: node.content = .value(v)
    case let v as Double: node.content = .value(CanonicalJSON.number(v))
    case let v as Float: node.content = .value(CanonicalJSON.number(v))
    case let v as Digest: node.content = .value(.string(v.hex))
    case let v as URL: node.content = .value(.string(v.absoluteString))
    case let v as Data: node.content = .value(.string(v.base64EncodedString()))
    case let v as Date: node.content = .value(CanonicalJSON.number(v.timeIntervalSinceReferenceDate))
    case let v as Decimal: node.content = .value(.number(v.description))
    default:
        try value.encode(to: TreeEncoder(codingPath: codingPath, node: node))
    }
}

private struct KeyedContainer<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let codingPath: [any CodingKey]

    func set(_ value: CanonicalJSON.Value, _ key: Key) { node.child(forKey: key.stringValue).content = .value(value) }

    mutating func encodeNil(forKey key: Key) throws { set(.null, key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { set(.bool(value), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { set(.string(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { set(CanonicalJSON.number(value), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { set(CanonicalJSON.number(value), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { set(.number(String(value)), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { set(.number(String(value)), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { set(.number(String(value)), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { set(.number(String(value)), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { set(.number(String(value)), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { set(.number(String(value)), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { set(.number(String(value)), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { set(.number(String(value)), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { set(.number(String(value)), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { set(.number(String(value)), key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        try encodeValue(value, into: node.child(forKey: key.stringValue), codingPath: codingPath + [key])
    }

    mutating func nestedContainer<NestedKey: CodingKey>(
        keyedBy keyType: NestedKey.Type, forKey key: Key
    ) -> KeyedEncodingContainer<NestedKey> {
        let child = node.child(forKey: key.stringValue)
        child.makeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: codingPath + [key]))
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = node.child(forKey: key.stringValue)
        child.makeArray()
        return UnkeyedContainer(node: child, codingPath: codingPath + [key])
    }

    mutating func superEncoder() -> any Encoder {
        TreeEncoder(codingPath: codingPath, node: node.child(forKey: "super"))
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        TreeEncoder(codingPath: codingPath + [key], node: node.child(forKey: key.stringValue))
    }
}

private struct UnkeyedContainer: UnkeyedEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    var count: Int { node.count }

    func append(_ value: CanonicalJSON.Value) { node.appendChild().content = .value(value) }

    mutating func encodeNil() throws { append(.null) }
    mutating func encode(_ value: Bool) throws { append(.bool(value)) }
    mutating func encode(_ value: String) throws { append(.string(value)) }
    mutating func encode(_ value: Double) throws { append(CanonicalJSON.number(value)) }
    mutating func encode(_ value: Float) throws { append(CanonicalJSON.number(value)) }
    mutating func encode(_ value: Int) throws { append(.number(String(value))) }
    mutating func encode(_ value: Int8) throws { append(.number(String(value))) }
    mutating func encode(_ value: Int16) throws { append(.number(String(value))) }
    mutating func encode(_ value: Int32) throws { append(.number(String(value))) }
    mutating func encode(_ value: Int64) throws { append(.number(String(value))) }
    mutating func encode(_ value: UInt) throws { append(.number(String(value))) }
    mutating func encode(_ value: UInt8) throws { append(.number(String(value))) }
    mutating func encode(_ value: UInt16) throws { append(.number(String(value))) }
    mutating func encode(_ value: UInt32) throws { append(.number(String(value))) }
    mutating func encode(_ value: UInt64) throws { append(.number(String(value))) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let path = codingPath + [IndexKey(count)]
        try encodeValue(value, into: node.appendChild(), codingPath: path)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let path = codingPath + [IndexKey(count)]
        let child = node.appendChild()
        child.makeObject()
        return KeyedEncodingContainer(KeyedContainer<NestedKey>(node: child, codingPath: path))
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let path = codingPath + [IndexKey(count)]
        let child = node.appendChild()
        child.makeArray()
        return UnkeyedContainer(node: child, codingPath: path)
    }

    mutating func superEncoder() -> any Encoder {
        TreeEncoder(codingPath: codingPath + [IndexKey(count)], node: node.appendChild())
    }
}

private struct SingleContainer: SingleValueEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]

    func set(_ value: CanonicalJSON.Value) { node.content = .value(value) }

    mutating func encodeNil() throws { set(.null) }
    mutating func encode(_ value: Bool) throws { set(.bool(value)) }
    mutating func encode(_ value: String) throws { set(.string(value)) }
    mutating func encode(_ value: Double) throws { set(CanonicalJSON.number(value)) }
    mutating func encode(_ value: Float) throws { set(CanonicalJSON.number(value)) }
    mutating func encode(_ value: Int) throws { set(.number(String(value))) }
    mutating func encode(_ value: Int8) throws { set(.number(String(value))) }
    mutating func encode(_ value: Int16) throws { set(.number(String(value))) }
    mutating func encode(_ value: Int32) throws { set(.number(String(value))) }
    mutating func encode(_ value: Int64) throws { set(.number(String(value))) }
    mutating func encode(_ value: UInt) throws { set(.number(String(value))) }
    mutating func encode(_ value: UInt8) throws { set(.number(String(value))) }
    mutating func encode(_ value: UInt16) throws { set(.number(String(value))) }
    mutating func encode(_ value: UInt32) throws { set(.number(String(value))) }
    mutating func encode(_ value: UInt64) throws { set(.number(String(value))) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try encodeValue(value, into: node, codingPath: codingPath)
    }
}

extension CanonicalJSON {
    /// Parses JSON text into a `Value`, keeping each number's literal text, so that canonical text
    /// read back serializes to the same bytes (and a stored stage description to the same key).
    /// `nil` for anything that is not one complete JSON value.
    public static func parse(_ data: Data) -> Value? {
        var parser = Parser(bytes: [UInt8](data))
        guard let value = parser.value(depth: 0) else { return nil }
        parser.skipSpace()
        return parser.index == parser.bytes.count ? value : nil
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func skipSpace() {
            while index < bytes.count, [0x20, 0x0a, 0x0d, 0x09].contains(bytes[index]) { index += 1 }
        }

        mutating func literal(_ word: String) -> Bool {
            let w = Array(word.utf8)
            guard index + w.count <= bytes.count, Array(bytes[index..<index + w.count]) == w else { return false }
            index += w.count
            return true
        }

        mutating func value(depth: Int) -> Value? {
            guard depth < 256 else { return nil }
            skipSpace()
            guard index < bytes.count else { return nil }
            switch bytes[index] {
            case UInt8(ascii: "n"): return literal("null") ? .null : nil
            case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
            case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
            case UInt8(ascii: "\""): return string().map(Value.string)
            case UInt8(ascii: "["):
                index += 1
                var items: [Value] = []
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                while true {
                    guard let item = value(depth: depth + 1) else { return nil }
                    items.append(item)
                    skipSpace()
                    guard index < bytes.count else { return nil }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(items) }
                    return nil
                }
            case UInt8(ascii: "{"):
                index += 1
                var members: [String: Value] = [:]
                skipSpace()
                if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                while true {
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
                    skipSpace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { return nil }
                    index += 1
                    guard let member = value(depth: depth + 1) else { return nil }
                    members[key] = member
                    skipSpace()
                    guard index < bytes.count else { return nil }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(members) }
                    return nil
                }
            default:
                let start = index
                while index < bytes.count, "+-.0123456789eE".utf8.contains(bytes[index]) { index += 1 }
                guard index > start else { return nil }
                let text = String(decoding: bytes[start..<index], as: UTF8.self)
                return Double(text) == nil ? nil : .number(text)
            }
        }

        /// A string literal starting at `index` (which holds the opening quote).
        mutating func string() -> String? {
            index += 1
            var out = [UInt8]()
            while index < bytes.count {
                let b = bytes[index]
                index += 1
                switch b {
                case UInt8(ascii: "\""): return String(decoding: out, as: UTF8.self)
                case UInt8(ascii: "\\"):
                    guard index < bytes.count else { return nil }
                    let e = bytes[index]
                    index += 1
                    switch e {
                    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                    case UInt8(ascii: "n"): out.append(0x0a)
                    case UInt8(ascii: "r"): out.append(0x0d)
                    case UInt8(ascii: "t"): out.append(0x09)
                    case UInt8(ascii: "b"): out.append(0x08)
                    case UInt8(ascii: "f"): out.append(0x0c)
                    case UInt8(ascii: "u"):
                        guard let unit = hex4() else { return nil }
                        var scalar: Unicode.Scalar? = Unicode.Scalar(unit)
                        if (0xD800..<0xDC00).contains(unit) {
                            guard literal("\\u"), let low = hex4(), (0xDC00..<0xE000).contains(low) else { return nil }
                            scalar = Unicode.Scalar(0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00))
                        }
                        guard let scalar else { return nil }
                        out.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default: return nil
                    }
                default: out.append(b)
                }
            }
            return nil
        }

        mutating func hex4() -> UInt32? {
            guard index + 4 <= bytes.count, let v = UInt32(String(decoding: bytes[index..<index + 4], as: UTF8.self), radix: 16) else { return nil }
            index += 4
            return v
        }
    }
}
