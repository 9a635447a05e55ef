import Foundation
import ZIPFoundation

/// Reading and writing NumPy `.npz` archives (zip files of `.npy` members, stored or deflated).
public enum NPZ {
    /// Reads every array of an `.npz` file, keyed by member name without the `.npy` suffix.
    ///
    /// Every member is checked before it is used: its CRC-32, and its size — the size its `.npy`
    /// header declares must equal the size the zip directory declares, and no member is inflated
    /// past it, so a small archive cannot expand into gigabytes of memory.
    public static func read(_ url: URL) throws(NumPyError) -> [String: NumPyArray] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory) else {
            throw NumPyError(file: url.path, message: "no such file")
        }
        guard !isDirectory.boolValue else { throw NumPyError(file: url.path, message: "is a directory, expected an .npz file") }
        let data: Data
        do { data = try Data(contentsOf: url, options: .alwaysMapped) } catch {
            throw NumPyError(file: url.path, message: "cannot read file (\(error.localizedDescription))")
        }
        return try decode(data, name: url.path)
    }

    /// Reads every array of `.npz` bytes held in memory; `name` is what errors call them.
    public static func decode(_ data: Data, name: String) throws(NumPyError) -> [String: NumPyArray] {
        let zip: ZipReader
        do { zip = try ZipReader(data) } catch {
            throw NumPyError(file: name, message: "not a readable .npz (zip) archive: \(error.message) — write the file again (np.savez)")
        }
        // Members may not claim more memory than the machine has, together.
        let budget = MemoryBudget.bytes
        var claimed = 0
        var out: [String: NumPyArray] = [:]
        for member in zip.members where !member.isDirectory {
            let key = member.name.hasSuffix(".npy") ? String(member.name.dropLast(4)) : member.name
            func fail(_ m: String) -> NumPyError {
                NumPyError(file: name, message: "member '\(member.name)'\(m.hasPrefix(":") ? "" : " ")\(m)")
            }
            guard out[key] == nil else { throw fail("appears twice in the archive") }
            claimed = claimed &+ Int(clamping: member.uncompressedSize)
            guard claimed >= 0, claimed <= budget else {
                throw fail("declares \(member.uncompressedSize) bytes; with the members before it that is more than the \(budget) bytes of memory this process may use")
            }
            func unzip(_ body: () throws(ZipReader.Failure) -> Data) throws(NumPyError) -> Data {
                do { return try body() } catch {
                    throw NumPyError(file: name, message: error.message + " — write the file again (np.savez)")
                }
            }
            func npy<T>(_ body: () throws(NumPyError) -> T) throws(NumPyError) -> T {
                do { return try body() } catch { throw fail(": \(error.message)") }
            }
            // The header first (a few bytes inflated), to bound the rest by the array it declares.
            let start = try unzip { () throws(ZipReader.Failure) in try zip.prefix(of: member, count: 12) }
            let headerEnd = try npy { () throws(NumPyError) in try NPY.headerEnd(start, name: name) }
            let head = try unzip { () throws(ZipReader.Failure) in try zip.prefix(of: member, count: headerEnd) }
            let (header, declared) = try npy { () throws(NumPyError) in try NPY.header(head, name: name) }
            guard UInt64(declared) == member.uncompressedSize else {
                throw fail("holds an array of shape \(header.shape) (\(declared) bytes with its header), but the zip directory declares \(member.uncompressedSize) bytes; the archive is damaged — write the file again (np.savez)")
            }
            let bytes = try unzip { () throws(ZipReader.Failure) in try zip.contents(of: member, limit: declared) }
            out[key] = try npy { () throws(NumPyError) in try NPY.decode(bytes, name: name) }
        }
        return out
    }

    /// The `.npz` bytes of `arrays`, built in memory: members sorted by name with a fixed
    /// timestamp, so identical contents give identical bytes (the cache addresses blobs by content).
    public static func encode(_ arrays: [String: NumPyArray], compressed: Bool = false) throws -> Data {
        do {
            let archive = try Archive(accessMode: .create)
            try add(arrays, to: archive, compressed: compressed)
            guard let data = archive.data else { throw NumPyError(file: "(memory)", message: "the archive has no bytes") }
            return data
        } catch let e as NumPyError {
            throw e
        } catch {
            throw NumPyError(file: "(memory)", message: "cannot build .npz (\(error))")
        }
    }

    private static func add(_ arrays: [String: NumPyArray], to archive: Archive, compressed: Bool) throws {
        let epoch = Date(timeIntervalSince1970: 315_532_800)  // 1980-01-01, the zip epoch
        for key in arrays.keys.sorted() {
            let data = NPY.encode(arrays[key]!)
            try archive.addEntry(
                with: key + ".npy", type: .file, uncompressedSize: Int64(data.count),
                modificationDate: epoch, compressionMethod: compressed ? .deflate : .none
            ) { position, size in
                data.subdata(in: Int(position)..<Int(position) + size)
            }
        }
    }

    /// Writes `arrays` as an `.npz` file atomically; members are sorted by name and carry a fixed
    /// timestamp so identical contents give identical bytes (the cache addresses files by content).
    public static func write(_ arrays: [String: NumPyArray], to url: URL, compressed: Bool = false) throws {
        let dir = url.deletingLastPathComponent()
        let tmp = dir.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        do {
            let archive = try Archive(url: tmp, accessMode: .create)
            try add(arrays, to: archive, compressed: compressed)
            guard rename(tmp.path, url.path) == 0 else {
                throw NumPyError(file: url.path, message: "cannot move the written file into place (errno \(errno))")
            }
        } catch {
            try? FileManager.default.removeItem(at: tmp)
            throw NumPyError(file: url.path, message: "cannot write .npz (\(error))")
        }
    }
}
