import Foundation

/// What happened to an exported file.
public struct ExportOutcome: Sendable, Equatable {
    /// The action taken.
    public enum Action: Sendable, Equatable {
        /// The file already had the right content; nothing was written.
        case unchanged
        /// The file did not exist and was never exported here before.
        case created
        /// The file held other content that was not an edit of an earlier export (a new result,
        /// or a file this cache did not write).
        case updated
        /// The file had been exported before and was deleted (`edited == false`) or edited by hand
        /// (`edited == true`); it was rewritten from the cache.
        case restored(edited: Bool)
    }

    /// The exported file.
    public let url: URL
    /// The content it now has.
    public let digest: Digest
    /// What was done.
    public let action: Action

    /// A line for the user such as "restored out/model.onnx from cache", or nil if nothing changed.
    /// `root` shortens the path when the file is below it.
    public func message(relativeTo root: URL? = nil) -> String? {
        let path = displayPath(url, relativeTo: root)
        switch action {
        case .unchanged: return nil
        case .created: return "wrote \(path)"
        case .updated: return "updated \(path)"
        case .restored(let edited): return "restored \(path) from cache" + (edited ? " (it had been edited)" : "")
        }
    }
}

/// Whether an exported file still has the content it should.
public enum ExportState: Sendable, Equatable {
    /// Present with the expected content.
    case upToDate
    /// Not there.
    case missing
    /// Present with other content.
    case modified(actual: Digest)
}

/// Materialises blobs at user paths (`export: onnx: out/model.onnx`) and keeps them honest: an
/// exported file that was deleted or edited is noticed by its digest and restored from the cache.
///
/// The last digest exported to each path is remembered under `index/exports/`, which is what lets
/// it tell "you edited this" from "this is a new result".
public struct Exporter: Sendable {
    /// The store blobs come from.
    public let store: Store

    /// Creates an exporter over a store.
    public init(store: Store) { self.store = store }

    /// Compares a file with the digest it should have.
    public func state(of url: URL, expected: Digest) -> ExportState {
        guard FileManager.default.fileExists(atPath: url.path) else { return .missing }
        guard let actual = try? Digest.ofFile(at: url) else { return .missing }
        return actual == expected ? .upToDate : .modified(actual: actual)
    }

    /// Makes `url` hold the blob `digest`: nothing is written if it already does; otherwise the
    /// content is copied through a temporary file beside it and renamed into place, so readers
    /// never see a half-written model. Parent folders are created.
    @discardableResult
    public func export(_ digest: Digest, to url: URL) throws -> ExportOutcome {
        let memory = memoryURL(for: url)
        let lastExported = (try? Data(contentsOf: memory)).flatMap { try? JSONDecoder().decode(Digest.self, from: $0) }
        let action: ExportOutcome.Action
        switch state(of: url, expected: digest) {
        case .upToDate:
            if lastExported != digest { remember(digest, at: memory) }
            return ExportOutcome(url: url, digest: digest, action: .unchanged)
        case .missing:
            action = lastExported == nil ? .created : .restored(edited: false)
        case .modified(let actual):
            if let lastExported, lastExported != actual {
                action = .restored(edited: true)
            } else {
                action = .updated
            }
        }
        try write(digest, to: url)
        remember(digest, at: memory)
        return ExportOutcome(url: url, digest: digest, action: action)
    }

    /// Removes the file at `url` — an export the current result no longer stands behind, such as
    /// the model of an earlier passing run when this one failed its bound — and forgets it.
    /// Returns whether a file was removed.
    @discardableResult
    public func withdraw(_ url: URL) throws -> Bool {
        let memory = memoryURL(for: url)
        try? FileManager.default.removeItem(at: memory)
        var info = stat()
        guard lstat(url.path, &info) == 0 else { return false }
        guard unlink(url.path) == 0 else { throw StoreError.io("cannot remove \(url.path)", errno) }
        return true
    }

    private func write(_ digest: Digest, to url: URL) throws {
        let source = try store.verifiedURL(for: digest)
        let folder = url.deletingLastPathComponent()
        try makeDirectory(folder)
        let temp = try TemporaryFile(in: folder)
        let copied = try Digest.ofFile(at: source) { try temp.append($0) }
        guard copied == digest else {
            // The blob changed after it was verified; drop it so the stage is recomputed.
            temp.discard()
            store.discardCorrupt(digest)
            throw StoreError.corruptObject(digest)
        }
        try temp.commit(to: url, publishPoint: false)
    }

    private func memoryURL(for url: URL) -> URL {
        let name = displayPath(url.standardizedFileURL, relativeTo: store.repositoryRoot)
        return store.indexDirectory
            .appendingPathComponent("exports", isDirectory: true)
            .appendingPathComponent(Store.fileName(for: name) + ".json")
    }

    private func remember(_ digest: Digest, at memory: URL) {
        // Only the wording of a later message depends on this, so failures are ignored.
        guard (try? makeDirectory(memory.deletingLastPathComponent())) != nil,
              let data = try? JSONEncoder().encode(digest) else { return }
        try? AtomicFile.write(data, to: memory)
    }
}

extension Store {
    /// The repository this cache belongs to, when it sits at `<root>/.shrink/cache`.
    var repositoryRoot: URL? {
        let shrink = directory.deletingLastPathComponent()
        guard directory.lastPathComponent == "cache", shrink.lastPathComponent == ".shrink" else { return nil }
        return shrink.deletingLastPathComponent()
    }
}

/// `url` relative to `root` when below it, else its full path.
func displayPath(_ url: URL, relativeTo root: URL?) -> String {
    let path = url.standardizedFileURL.path
    guard let root else { return path }
    let base = root.standardizedFileURL.path
    let prefix = base.hasSuffix("/") ? base : base + "/"
    return path.hasPrefix(prefix) ? String(path.dropFirst(prefix.count)) : path
}
