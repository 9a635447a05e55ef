import Foundation

/// A folder Shrink writes whole (a directory export, such as generated C sources): Shrink marks
/// the folders it creates, refuses to write into a non-empty folder it did not create, and keeps
/// an owned folder holding exactly the files of the last export — stale ones are removed.
///
/// The mark is a small file, `OwnedDirectory.markerName`, written when the folder is claimed;
/// deleting it hands the folder back to the user (the next export then refuses it unless empty).
public struct OwnedDirectory: Sendable {
    /// The marker file's name inside an owned folder.
    public static let markerName = ".shrink-owned"

    /// What the marker says to a person who finds it.
    static let markerText = """
        This folder is written by Shrink (`shrink run`). Every run replaces its content with the
        files of the current export and removes any other file here. Delete this marker to take
        the folder back; Shrink then refuses to write into it while it is not empty.

        """

    /// The folder.
    public let url: URL

    /// Why a folder cannot be used.
    public enum Failure: Error, Sendable, Equatable, CustomStringConvertible {
        /// A folder Shrink did not create holds files; nothing was changed.
        case notOwned(URL, entries: [String])
        /// The path exists and is not a folder.
        case notAFolder(URL)
        /// The file system refused.
        case io(String)

        /// A one-line explanation.
        public var description: String {
            switch self {
            case .notOwned(let url, let entries):
                let shown = entries.prefix(3).map { "`\($0)`" }.joined(separator: ", ") + (entries.count > 3 ? ", …" : "")
                return "\(url.path) holds files Shrink did not write (\(shown)); refusing to write a directory export into it — "
                    + "choose an empty or new folder, or empty this one"
            case .notAFolder(let url): return "\(url.path) exists and is not a folder"
            case .io(let message): return message
            }
        }
    }

    /// Claims `url` for Shrink: creates it (and its parents) with the marker, adopts an existing
    /// empty folder, accepts a folder that has the marker, and refuses anything else.
    public static func claim(_ url: URL) throws(Failure) -> OwnedDirectory {
        let folder = url.standardizedFileURL
        let fm = FileManager.default
        var isDirectory: ObjCBool = false
        if fm.fileExists(atPath: folder.path, isDirectory: &isDirectory) {
            guard isDirectory.boolValue else { throw .notAFolder(folder) }
            let entries: [String]
            do { entries = try fm.contentsOfDirectory(atPath: folder.path).sorted() } catch {
                throw .io("cannot list \(folder.path): \(error.localizedDescription)")
            }
            if entries.contains(markerName) { return OwnedDirectory(url: folder) }
            guard entries.isEmpty else { throw .notOwned(folder, entries: entries) }
        } else {
            do { try fm.createDirectory(at: folder, withIntermediateDirectories: true) } catch {
                throw .io("cannot create \(folder.path): \(error.localizedDescription)")
            }
        }
        do {
            try AtomicFile.write(Data(markerText.utf8), to: folder.appendingPathComponent(markerName))
        } catch {
            throw .io("cannot mark \(folder.path) as Shrink's: \(error)")
        }
        return OwnedDirectory(url: folder)
    }

    /// Whether `url` is a folder Shrink owns (it holds the marker).
    public static func isOwned(_ url: URL) -> Bool {
        FileManager.default.fileExists(atPath: url.appendingPathComponent(markerName).path)
    }

    /// Makes the folder hold exactly `files` (path relative to the folder → content), each written
    /// atomically, then removes every other file and empty sub-folder. Returns the paths removed.
    @discardableResult
    public func synchronize(_ files: [String: Data]) throws(Failure) -> [String] {
        for (path, data) in files.sorted(by: { $0.key < $1.key }) {
            guard let normalized = Self.normalize(path), normalized != Self.markerName else {
                throw .io("`\(path)` is not a file name inside \(url.path)")
            }
            let destination = url.appendingPathComponent(normalized)
            do {
                try makeDirectory(destination.deletingLastPathComponent())
                if (try? Data(contentsOf: destination)) != data { try AtomicFile.write(data, to: destination) }
            } catch {
                throw .io("cannot write \(destination.path): \(error)")
            }
        }
        return try removeStale(keeping: Set(files.keys.compactMap(Self.normalize)))
    }

    /// Removes every file (and then every empty folder) not in `keep`, besides the marker.
    /// Symbolic links are removed as links; the walk never follows one out of the folder.
    @discardableResult
    public func removeStale(keeping keep: Set<String>) throws(Failure) -> [String] {
        let fm = FileManager.default
        var removed: [String] = []
        var folders: [String] = []
        var pending: [String] = [""]
        while let folder = pending.popLast() {
            let full = folder.isEmpty ? url : url.appendingPathComponent(folder)
            let names: [String]
            do { names = try fm.contentsOfDirectory(atPath: full.path).sorted() } catch {
                throw .io("cannot list \(full.path): \(error.localizedDescription)")
            }
            for name in names {
                let entry = folder.isEmpty ? name : "\(folder)/\(name)"
                if entry == Self.markerName { continue }
                let path = url.appendingPathComponent(entry).path
                var info = stat()
                guard lstat(path, &info) == 0 else { continue }
                if (info.st_mode & S_IFMT) == S_IFDIR {
                    folders.append(entry)
                    pending.append(entry)
                    continue
                }
                guard !keep.contains(entry) else { continue }
                guard unlink(path) == 0 else {
                    throw .io("cannot remove stale \(path): \(String(cString: strerror(errno)))")
                }
                removed.append(entry)
            }
        }
        // Deepest first, so a folder emptied by removing its sub-folders goes too.
        for folder in folders.sorted(by: { $0.count > $1.count }) where rmdir(url.appendingPathComponent(folder).path) == 0 {
            removed.append(folder + "/")
        }
        return removed.sorted()
    }

    /// `a/./b` → `a/b`; nil for empty paths, absolute paths and paths leaving the folder.
    static func normalize(_ path: String) -> String? {
        guard !path.hasPrefix("/") else { return nil }
        var parts: [Substring] = []
        for part in path.split(separator: "/") where part != "." {
            if part == ".." { return nil }
            parts.append(part)
        }
        return parts.isEmpty ? nil : parts.joined(separator: "/")
    }
}
