import Foundation

/// Reading and writing NumPy `.npy` files (format versions 1.0, 2.0 and 3.0; C order).
public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Reads an `.npy` file.
    public static func read(_ url: URL) throws -> NumPyArray {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw NumPyError(file: url.path, message: "cannot read file (\(error.localizedDescription))")
        }
        return try decode(data, name: url.path)
    }

    /// Decodes the bytes of an `.npy` file; `name` is used in error messages.
    public static func decode(_ data: Data, name: String) throws -> NumPyArray {
        func fail(_ m: String) -> NumPyError { NumPyError(file: name, message: m) }
        let bytes = [UInt8](data.prefix(12))
        guard bytes.count >= 10, Array(bytes[0..<6]) == magic else {
            throw fail("not a NumPy .npy file (bad magic bytes)")
        }
        let major = bytes[6]
        let headerLength: Int, headerStart: Int
        switch major {
        case 1:
            headerLength = Int(bytes[8]) | Int(bytes[9]) << 8
            headerStart = 10
        case 2, 3:
            guard bytes.count >= 12 else { throw fail("truncated header") }
            headerLength = (0..<4).reduce(0) { $0 | Int(bytes[8 + $1]) << (8 * $1) }
            headerStart = 12
        default:
            throw fail("unsupported .npy format version \(major)")
        }
        guard data.count >= headerStart + headerLength else { throw fail("truncated header") }
        let base = data.startIndex
        let headerData = data[(base + headerStart)..<(base + headerStart + headerLength)]
        guard let header = String(data: headerData, encoding: major == 3 ? .utf8 : .isoLatin1) else {
            throw fail("header is not text")
        }
        let parsed = try NPYHeader.parse(header, name: name)
        let payload = data[(base + headerStart + headerLength)...]
        return try parsed.array(from: Data(payload), name: name)
    }

    /// Encodes an array as `.npy` (version 1.0, or 2.0 when the header needs it).
    public static func encode(_ array: NumPyArray) -> Data {
        let shapeText: String
        switch array.shape.count {
        case 0: shapeText = "()"
        case 1: shapeText = "(\(array.shape[0]),)"
        default: shapeText = "(" + array.shape.map(String.init).joined(separator: ", ") + ")"
        }
        var header = "{'descr': '\(array.dtype.descr)', 'fortran_order': False, 'shape': \(shapeText), }"
        // Pad with spaces so the data starts on a 64-byte boundary, ending in a newline.
        let prefixV1 = 10
        let useV2 = prefixV1 + header.utf8.count + 1 > 65535
        let prefix = useV2 ? 12 : prefixV1
        let total = prefix + header.utf8.count + 1
        header += String(repeating: " ", count: (64 - total % 64) % 64) + "\n"
        var out = Data(magic)
        out.append(contentsOf: [useV2 ? 2 : 1, 0])
        let n = header.utf8.count
        if useV2 {
            out.append(contentsOf: (0..<4).map { UInt8((n >> (8 * $0)) & 0xFF) })
        } else {
            out.append(contentsOf: [UInt8(n & 0xFF), UInt8(n >> 8)])
        }
        out.append(contentsOf: Array(header.utf8))
        out.append(array.bytes)
        return out
    }

    /// Writes an array to `url` atomically (temporary file, then rename).
    public static func write(_ array: NumPyArray, to url: URL) throws {
        do { try encode(array).write(to: url, options: .atomic) } catch {
            throw NumPyError(file: url.path, message: "cannot write file (\(error.localizedDescription))")
        }
    }
}

/// The Python-literal header dictionary of an `.npy` file.
struct NPYHeader {
    var descr: String
    var fortranOrder: Bool
    var shape: [Int]

    /// Parses `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
    static func parse(_ text: String, name: String) throws -> NPYHeader {
        func fail(_ m: String) -> NumPyError { NumPyError(file: name, message: "bad .npy header: \(m)") }
        func value(after key: String) throws -> Substring {
            guard let r = text.range(of: "'\(key)'") ?? text.range(of: "\"\(key)\""),
                  let colon = text[r.upperBound...].firstIndex(of: ":") else { throw fail("no '\(key)' entry") }
            return text[text.index(after: colon)...].drop { $0 == " " }
        }
        let d = try value(after: "descr")
        guard let q = d.first, q == "'" || q == "\"", let end = d.dropFirst().firstIndex(of: q) else {
            if d.hasPrefix("[") { throw fail("structured dtypes are not supported; save a plain numeric array") }
            throw fail("unreadable descr")
        }
        let descr = String(d[d.index(after: d.startIndex)..<end])
        let f = try value(after: "fortran_order")
        let fortran: Bool
        if f.hasPrefix("False") { fortran = false } else if f.hasPrefix("True") { fortran = true } else {
            throw fail("unreadable fortran_order")
        }
        let s = try value(after: "shape")
        guard s.first == "(", let close = s.firstIndex(of: ")") else { throw fail("unreadable shape") }
        let inner = s[s.index(after: s.startIndex)..<close]
        var shape: [Int] = []
        for part in inner.split(separator: ",") {
            let t = part.trimmingCharacters(in: .whitespaces)
            if t.isEmpty { continue }
            guard let v = Int(t.hasSuffix("L") ? String(t.dropLast()) : t), v >= 0 else {
                throw fail("unreadable shape entry '\(t)'")
            }
            shape.append(v)
        }
        return NPYHeader(descr: descr, fortranOrder: fortran, shape: shape)
    }

    /// The array these header fields describe over `payload`.
    func array(from payload: Data, name: String) throws -> NumPyArray {
        func fail(_ m: String) -> NumPyError { NumPyError(file: name, message: m) }
        if descr.hasPrefix("|O") || descr == "O" {
            throw fail("object arrays are not supported (they need pickle); save a numeric array, e.g. x.astype(np.float32)")
        }
        if fortranOrder {
            throw fail("Fortran-order arrays are not supported; save with np.ascontiguousarray(x)")
        }
        guard let order = descr.first, "<>|=".contains(order),
              let dtype = NumPyDType(rawValue: String(descr.dropFirst())) else {
            let list = NumPyDType.allCases.map { "\($0)" }.joined(separator: ", ")
            throw fail("unsupported dtype '\(descr)'; supported: \(list)")
        }
        let needed = shape.reduce(1, *) * dtype.itemSize
        guard payload.count >= needed else {
            throw fail("truncated data: shape \(shape) of \(dtype) needs \(needed) bytes, file has \(payload.count)")
        }
        var body = Data(payload.prefix(needed))
        if order == ">" && dtype.itemSize > 1 {
            // Big-endian data: swap each element into little-endian order.
            let k = dtype.itemSize
            body.withUnsafeMutableBytes { raw in
                var i = 0
                while i < needed {
                    for j in 0..<(k / 2) { raw.swapAt(i + j, i + k - 1 - j) }
                    i += k
                }
            }
        }
        return try NumPyArray(dtype: dtype, shape: shape, bytes: body)
    }
}
