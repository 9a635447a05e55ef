import Foundation

/// Reading and writing NumPy `.npy` files (format versions 1.0, 2.0 and 3.0; C order).
public enum NPY {
    private static let magic: [UInt8] = [0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59]  // \x93NUMPY

    /// Reads an `.npy` file.
    public static func read(_ url: URL) throws(NumPyError) -> NumPyArray {
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw NumPyError(file: url.path, message: "cannot read file (\(error.localizedDescription))")
        }
        return try decode(data, name: url.path)
    }

    /// The longest header Shrink reads (NumPy itself refuses more than 10 kB by default).
    static let maxHeaderLength = 1 << 20

    /// The number of bytes from the start of an `.npy` file to the end of its header, from its
    /// first 12 bytes (fewer if the file is shorter).
    static func headerEnd(_ prefix: Data, name: String) throws(NumPyError) -> Int {
        func fail(_ m: String) -> NumPyError { NumPyError(file: name, message: m) }
        let bytes = [UInt8](prefix.prefix(12))
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
        guard headerLength <= maxHeaderLength else {
            throw fail("the header claims \(headerLength) bytes, more than the \(maxHeaderLength) Shrink reads; the file is damaged")
        }
        return headerStart + headerLength
    }

    /// The header of an `.npy` file from its first bytes (at least `headerEnd` of them), and the
    /// total size in bytes the file must have for the array it declares.
    static func header(_ prefix: Data, name: String) throws(NumPyError) -> (header: NPYHeader, fileSize: Int) {
        let end = try headerEnd(prefix, name: name)
        guard prefix.count >= end else { throw NumPyError(file: name, message: "truncated header") }
        let start = prefix.startIndex + (prefix[prefix.startIndex + 6] == 1 ? 10 : 12)
        let headerData = prefix[start..<(prefix.startIndex + end)]
        guard let text = String(data: headerData, encoding: prefix[prefix.startIndex + 6] == 3 ? .utf8 : .isoLatin1) else {
            throw NumPyError(file: name, message: "header is not text")
        }
        let parsed = try NPYHeader.parse(text, name: name)
        let (size, overflow) = end.addingReportingOverflow(try parsed.byteCount(name: name))
        guard !overflow else {
            throw NumPyError(file: name, message: "shape \(parsed.shape) is too large to address; the header is damaged — save the array again")
        }
        return (parsed, size)
    }

    /// Decodes the bytes of an `.npy` file; `name` is used in error messages.
    public static func decode(_ data: Data, name: String) throws(NumPyError) -> NumPyArray {
        let (parsed, _) = try header(data, name: name)
        let payload = data[(data.startIndex + (try headerEnd(data, name: name)))...]
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
    static func parse(_ text: String, name: String) throws(NumPyError) -> NPYHeader {
        func fail(_ m: String) -> NumPyError { NumPyError(file: name, message: "bad .npy header: \(m)") }
        func value(after key: String) throws(NumPyError) -> Substring {
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

    /// The element type, or an error naming the supported ones.
    func dtype(name: String) throws(NumPyError) -> NumPyDType {
        func fail(_ m: String) -> NumPyError { NumPyError(file: name, message: m) }
        if descr.hasPrefix("|O") || descr == "O" {
            throw fail("object arrays are not supported (they need pickle); save a numeric array, e.g. x.astype(np.float32)")
        }
        guard let order = descr.first, "<>|=".contains(order),
              let dtype = NumPyDType(rawValue: String(descr.dropFirst())) else {
            let list = NumPyDType.allCases.map { "\($0)" }.joined(separator: ", ")
            throw fail("unsupported dtype '\(descr)'; supported: \(list)")
        }
        return dtype
    }

    /// Bytes of data the header declares: elements × item size, checked for overflow.
    func byteCount(name: String) throws(NumPyError) -> Int {
        let type = try dtype(name: name)
        guard let n = NumPyArray.byteCount(shape: shape, itemSize: type.itemSize) else {
            throw NumPyError(file: name, message: "shape \(shape) of \(type) is too large to address (its size overflows); the header is damaged — save the array again")
        }
        return n
    }

    /// The array these header fields describe over `payload`.
    func array(from payload: Data, name: String) throws(NumPyError) -> NumPyArray {
        func fail(_ m: String) -> NumPyError { NumPyError(file: name, message: m) }
        let dtype = try dtype(name: name)
        if fortranOrder {
            throw fail("Fortran-order arrays are not supported; save with np.ascontiguousarray(x)")
        }
        let needed = try byteCount(name: name)
        let order = descr.first
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
