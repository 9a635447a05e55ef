import Foundation
import Synchronization

/// The content-addressed cache under `<root>/.shrink/cache/`.
///
/// ```
/// objects/<aa>/<rest>   blobs, named by the SHA-256 of their content
/// actions/<key>         action records (JSON): key → output digests
/// index/<identity>.json the last key per stage identity, for explanations
/// locks/<key>           per-key flock files, held while a key is computed
/// lock                  store-wide flock: shared by runs, exclusive by gc
/// ```
///
/// Every write is a temporary file in the destination directory, then renamed; blobs are
/// published before the record naming them. A process killed at any instant therefore leaves
/// either a complete record whose blobs exist, or no record (plus perhaps orphan blobs and
/// `.tmp-*` files, which gc removes). Cache writes are not fsynced: after a power loss a blob or
/// record may be empty or missing, which verify-on-read reports and the run recomputes.
public final class Store: Sendable {
    /// `<root>/.shrink/cache`.
    public let directory: URL
    let objectsDirectory: URL
    let actionsDirectory: URL
    let indexDirectory: URL
    let locksDirectory: URL
    let descriptionsDirectory: URL
    private let warnHandler: @Sendable (String) -> Void
    /// The team cache under this store, if any: blobs and records missing here are asked of it.
    public let remote: RemoteCache?
    /// Blobs hashed once by this instance; re-hashing on every read would make warm runs pay for
    /// every byte of every model again.
    private let verified = Mutex<Set<Digest>>([])

    /// Opens (creating if needed) the cache of a repository: `<repositoryRoot>/.shrink/cache`.
    public convenience init(
        repositoryRoot: URL, warn: @escaping @Sendable (String) -> Void = Store.standardErrorWarning, remote: RemoteCache? = nil
    ) throws {
        try self.init(
            directory: repositoryRoot.appendingPathComponent(".shrink/cache", isDirectory: true), warn: warn, remote: remote)
    }

    /// Opens (creating if needed) a cache directory. `warn` receives one-line messages about
    /// problems the store repaired on its own, such as a corrupt blob it removed.
    public init(directory: URL, warn: @escaping @Sendable (String) -> Void = Store.standardErrorWarning,
                remote: RemoteCache? = nil) throws {
        self.directory = directory.standardizedFileURL
        self.remote = remote
        objectsDirectory = self.directory.appendingPathComponent("objects", isDirectory: true)
        actionsDirectory = self.directory.appendingPathComponent("actions", isDirectory: true)
        indexDirectory = self.directory.appendingPathComponent("index", isDirectory: true)
        locksDirectory = self.directory.appendingPathComponent("locks", isDirectory: true)
        descriptionsDirectory = self.directory.appendingPathComponent("descriptions", isDirectory: true)
        warnHandler = warn
        for dir in [objectsDirectory, actionsDirectory, indexDirectory, locksDirectory, descriptionsDirectory] { try makeDirectory(dir) }
    }

    /// The default warning sink: a line on standard error.
    public static let standardErrorWarning: @Sendable (String) -> Void = { message in
        FileHandle.standardError.write(Data((message + "\n").utf8))
    }

    func warn(_ message: String) { warnHandler(message) }

    // MARK: Blobs

    /// Where the blob with this digest lives (whether or not it exists).
    public func objectURL(for digest: Digest) -> URL {
        objectsDirectory
            .appendingPathComponent(String(digest.hex.prefix(2)), isDirectory: true)
            .appendingPathComponent(String(digest.hex.dropFirst(2)))
    }

    /// Whether the blob is present with the right content. A corrupt blob is reported, removed and
    /// counts as absent.
    public func contains(_ digest: Digest) -> Bool {
        checkBlob(digest) == .present || fetchFromRemote(digest)
    }

    /// Asks the remote layer for a blob a record it served names (downloaded, re-hashed, stored).
    private func fetchFromRemote(_ digest: Digest) -> Bool {
        remote?.fetchBlob(digest, into: self) ?? false
    }

    enum BlobState { case present, missing, corrupt }

    func checkBlob(_ digest: Digest, force: Bool = false) -> BlobState {
        if !force, verified.withLock({ $0.contains(digest) }) {
            // Trusted, but a vanished file (gc from elsewhere, a user's rm) is still a miss.
            if access(objectURL(for: digest).path, F_OK) == 0 { return .present }
            verified.withLock { _ = $0.remove(digest) }
            return .missing
        }
        let url = objectURL(for: digest)
        guard access(url.path, F_OK) == 0 else { return .missing }
        guard let actual = try? Digest.ofFile(at: url) else { return .missing }
        if actual == digest {
            verified.withLock { _ = $0.insert(digest) }
            return .present
        }
        discardCorrupt(digest)
        return .corrupt
    }

    func forgetVerified(_ digests: [Digest]) {
        verified.withLock { set in for digest in digests { set.remove(digest) } }
    }

    func discardCorrupt(_ digest: Digest) {
        verified.withLock { _ = $0.remove(digest) }
        unlink(objectURL(for: digest).path)
        warn("cache: object \(digest.short)… is corrupt; recomputing")
    }

    /// Stores bytes and returns their digest; already-present content is not written again.
    @discardableResult
    public func put(_ data: Data) throws -> Digest {
        let digest = Digest.of(data)
        if checkBlob(digest) == .present { return digest }
        let url = objectURL(for: digest)
        try makeDirectory(url.deletingLastPathComponent())
        try AtomicFile.write(data, to: url, publishPoint: true, durable: false)
        verified.withLock { _ = $0.insert(digest) }
        return digest
    }

    /// Stores a file's content, streamed, and returns its digest. The blob is made from the same
    /// read that is hashed, so a file edited meanwhile cannot end up under the wrong name.
    @discardableResult
    public func putFile(at url: URL) throws -> Digest {
        let first = try Digest.ofFile(at: url)
        if checkBlob(first) == .present { return first }
        let temp = try TemporaryFile(in: objectsDirectory)
        let digest = try Digest.ofFile(at: url) { try temp.append($0) }
        if checkBlob(digest) == .present {
            temp.discard()
            return digest
        }
        let destination = objectURL(for: digest)
        try makeDirectory(destination.deletingLastPathComponent())
        try temp.commit(to: destination, publishPoint: true, durable: false)
        verified.withLock { _ = $0.insert(digest) }
        return digest
    }

    /// Reads a blob, checking its content against its name unless this instance already did.
    /// A mismatch is reported, the blob removed, and `StoreError.corruptObject` thrown.
    public func read(_ digest: Digest) throws -> Data {
        let url = objectURL(for: digest)
        let data: Data
        do {
            data = try Data(contentsOf: url)
        } catch {
            guard fetchFromRemote(digest), let fetched = try? Data(contentsOf: url) else { throw StoreError.missingObject(digest) }
            return fetched  // verified as it was downloaded
        }
        if verified.withLock({ $0.contains(digest) }) { return data }
        guard Digest.of(data) == digest else {
            discardCorrupt(digest)
            throw StoreError.corruptObject(digest)
        }
        verified.withLock { _ = $0.insert(digest) }
        return data
    }

    /// The path of a verified blob, for readers that want a file (an ONNX loader, `mmap`).
    /// The file is read-only by convention: writing to it would corrupt the cache.
    public func verifiedURL(for digest: Digest) throws -> URL {
        switch checkBlob(digest) {
        case .present: return objectURL(for: digest)
        case .missing: if fetchFromRemote(digest) { return objectURL(for: digest) } else { throw StoreError.missingObject(digest) }
        case .corrupt: if fetchFromRemote(digest) { return objectURL(for: digest) } else { throw StoreError.corruptObject(digest) }
        }
    }

    /// Size of a stored blob in bytes, or nil if absent.
    public func size(of digest: Digest) -> Int64? {
        var info = stat()
        guard stat(objectURL(for: digest).path, &info) == 0 else { return nil }
        return Int64(info.st_size)
    }

    // MARK: Action records

    func actionURL(for key: StageKey) -> URL { actionsDirectory.appendingPathComponent(key.hex) }

    /// The record for a key as stored, without checking its blobs; nil if there is none. An
    /// unreadable record is reported, removed and treated as absent.
    public func record(for key: StageKey) -> ActionRecord? {
        loadRecord(at: actionURL(for: key))
    }

    func loadRecord(at url: URL) -> ActionRecord? {
        var info = stat()
        guard stat(url.path, &info) == 0 else { return nil }
        guard let data = try? Data(contentsOf: url),
              var record = try? ActionRecord.decoder().decode(ActionRecord.self, from: data),
              record.format == 1, record.key.hex == url.lastPathComponent
        else {
            warn("cache: action record \(url.lastPathComponent.prefix(12))… is unreadable; recomputing")
            unlink(url.path)
            return nil
        }
        let modified = Date(
            timeIntervalSince1970: Double(info.st_mtim.tv_sec) + Double(info.st_mtim.tv_nsec) / 1e9)
        record.lastUsed = modified
        return record
    }

    /// A usable hit: the record for `key` with every output blob present and intact (corrupt ones
    /// are removed and reported). Marks the record as used now unless `markUsed` is false (`plan`).
    public func lookup(_ key: StageKey, markUsed: Bool = true) -> ActionRecord? {
        guard let record = record(for: key) else { return nil }
        for output in record.outputs.values.sorted(by: { $0.digest < $1.digest }) {
            guard checkBlob(output.digest) == .present else { return nil }
        }
        if markUsed { touch(key) }
        return record
    }

    /// Marks a record as used now by bumping its file's modification time: one system call, no
    /// rewrite, no race with readers.
    public func touch(_ key: StageKey) {
        _ = utimensat(AT_FDCWD, actionURL(for: key).path, nil, 0)
    }

    /// Publishes a record. Its blobs must already be in the store — that order is what keeps a
    /// killed run from leaving a record that points at nothing.
    public func publish(_ record: ActionRecord) throws {
        for output in record.outputs.values where checkBlob(output.digest) != .present {
            throw StoreError.missingObject(output.digest)
        }
        let data = try ActionRecord.encoder().encode(record)
        try AtomicFile.write(data, to: actionURL(for: record.key), publishPoint: true, durable: false)
    }

    // MARK: Stage descriptions

    func descriptionURL(for key: StageKey) -> URL { descriptionsDirectory.appendingPathComponent(key.hex + ".json") }

    /// Stores a stage's description under its key (once; the same key always has the same one),
    /// so any process with this store can run the stage by key.
    public func putDescription(_ description: StageDescription) throws {
        let url = descriptionURL(for: description.key)
        if FileManager.default.fileExists(atPath: url.path) { return }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        try AtomicFile.write(try encoder.encode(description), to: url, durable: false)
    }

    /// The description stored under `key`, checked to hash to it.
    public func description(for key: StageKey) throws -> StageDescription {
        guard let data = try? Data(contentsOf: descriptionURL(for: key)) else { throw StageDescriptionError.unknownKey(key) }
        guard let d = try? JSONDecoder().decode(StageDescription.self, from: data), d.key == key else {
            throw StageDescriptionError.mismatchedKey(key)
        }
        return d
    }

    /// Removes a record (its blobs stay until gc).
    public func removeRecord(_ key: StageKey) {
        unlink(actionURL(for: key).path)
    }

    // MARK: Identity index

    /// The last key recorded for a stage identity.
    public func lastEntry(forIdentity identity: String) -> IndexEntry? {
        guard let data = try? Data(contentsOf: indexURL(for: identity)) else { return nil }
        return try? ActionRecord.decoder().decode(IndexEntry.self, from: data)
    }

    /// Records `entry` as the latest for its identity; skips the write when nothing changed so a
    /// warm run writes nothing.
    public func updateIndex(_ entry: IndexEntry) {
        if let existing = lastEntry(forIdentity: entry.identity), existing == entry { return }
        guard let data = try? ActionRecord.encoder().encode(entry) else { return }
        // Losing an index entry only costs an explanation, never a result, so a failed write is ignored.
        try? AtomicFile.write(data, to: indexURL(for: entry.identity), durable: false)
    }

    func indexURL(for identity: String) -> URL {
        indexDirectory.appendingPathComponent(Store.fileName(for: identity) + ".json")
    }

    /// A file name for an arbitrary identity: `[A-Za-z0-9_-]` and inner dots kept, every other byte
    /// `%XX`, long names shortened with a digest suffix so they stay under the 255-byte limit.
    static func fileName(for identity: String) -> String {
        var out = ""
        for (i, byte) in identity.utf8.enumerated() {
            let c = Character(Unicode.Scalar(byte))
            if (byte >= 48 && byte <= 57) || (byte >= 65 && byte <= 90) || (byte >= 97 && byte <= 122)
                || byte == UInt8(ascii: "_") || byte == UInt8(ascii: "-") || (byte == UInt8(ascii: ".") && i > 0) {
                out.append(c)
            } else {
                out += "%" + String(byte, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        if out.utf8.count > 180 { out = String(out.prefix(100)) + "~" + Digest.of(identity).short }
        return out.isEmpty ? "%" : out
    }

    // MARK: Locks

    /// Takes the per-key lock, held while the key is being computed, so a second process (or
    /// thread) asking for the same key waits and then finds the first one's result.
    public func lockAction(_ key: StageKey) throws -> FileLock {
        try FileLock.acquire(actionLockPath(key), mode: .exclusive)
    }

    /// The per-key lock file, for callers that try the lock before deciding to wait.
    public func actionLockPath(_ key: StageKey) -> String {
        locksDirectory.appendingPathComponent(key.hex).path
    }

    /// Takes the store-wide lock: runs hold it shared, gc exclusive, so gc never deletes what a
    /// running stage is about to reference.
    public func lockStore(_ mode: FileLock.Mode) throws -> FileLock {
        try FileLock.acquire(storeLockPath, mode: mode)
    }

    /// The store-wide lock file.
    public var storeLockPath: String { directory.appendingPathComponent("lock").path }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
