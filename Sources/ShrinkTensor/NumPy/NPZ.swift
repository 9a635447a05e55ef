import Foundation
import ZIPFoundation

/// Reading and writing NumPy `.npz` archives (zip files of `.npy` members, stored or deflated).
public enum NPZ {
    /// Reads every array of an `.npz` file, keyed by member name without the `.npy` suffix.
    public static func read(_ url: URL) throws -> [String: NumPyArray] {
        guard FileManager.default.fileExists(atPath: url.path) else {
            throw NumPyError(file: url.path, message: "no such file")
        }
        let archive: Archive
        do { archive = try Archive(url: url, accessMode: .read) } catch {
            throw NumPyError(file: url.path, message: "not a readable .npz (zip) archive: \(error)")
        }
        return try members(of: archive, name: url.path)
    }

    /// Reads every array of `.npz` bytes held in memory; `name` is what errors call them.
    public static func decode(_ data: Data, name: String) throws -> [String: NumPyArray] {
        let archive: Archive
        do { archive = try Archive(data: data, accessMode: .read) } catch {
            throw NumPyError(file: name, message: "not a readable .npz (zip) archive: \(error)")
        }
        return try members(of: archive, name: name)
    }

    private static func members(of archive: Archive, name: String) throws -> [String: NumPyArray] {
        var out: [String: NumPyArray] = [:]
        for entry in archive where entry.type == .file {
            var data = Data()
            do {
                _ = try archive.extract(entry, skipCRC32: false) { data.append($0) }
            } catch {
                throw NumPyError(file: name, message: "member '\(entry.path)' is corrupt: \(error)")
            }
            let key = entry.path.hasSuffix(".npy") ? String(entry.path.dropLast(4)) : entry.path
            out[key] = try NPY.decode(data, name: "\(name)[\(key)]")
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
