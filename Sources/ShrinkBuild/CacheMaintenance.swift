import Foundation

/// What `shrink cache ls` shows.
public struct CacheListing: Sendable {
    /// Every readable action record, by identity then creation time.
    public var records: [ActionRecord]
    /// Number of blobs.
    public var objectCount: Int
    /// Bytes in blobs.
    public var objectBytes: Int64
}

/// What `shrink cache verify` found. Damaged entries have already been removed.
public struct VerifyReport: Sendable {
    /// Blobs re-hashed.
    public var checkedObjects = 0
    /// Records read.
    public var checkedRecords = 0
    /// Blobs whose content did not match their name.
    public var corruptObjects: [Digest] = []
    /// Records that could not be parsed (file names).
    public var unreadableRecords: [String] = []
    /// Records naming blobs that are gone.
    public var incompleteRecords: [ActionRecord] = []

    /// True when nothing was damaged.
    public var isClean: Bool { corruptObjects.isEmpty && unreadableRecords.isEmpty && incompleteRecords.isEmpty }
}

/// What `shrink cache gc` removed.
public struct GCReport: Sendable {
    /// Records removed because they were unused for too long.
    public var removedRecords = 0
    /// Records kept.
    public var keptRecords = 0
    /// Blobs removed because nothing kept referenced them.
    public var removedObjects = 0
    /// Blobs kept.
    public var keptObjects = 0
    /// Bytes freed by removed blobs.
    public var freedBytes: Int64 = 0
    /// Leftover temporary files of killed runs removed.
    public var removedTemporaryFiles = 0
    /// Stage descriptions removed: of removed records, or old ones whose stage never finished.
    public var removedDescriptions = 0
}

extension Store {
    /// Every blob in the store with its size, unverified.
    public func allObjects() -> [(digest: Digest, size: Int64)] {
        var result = [(digest: Digest, size: Int64)]()
        for prefix in directoryEntries(objectsDirectory) where prefix.utf8.count == 2 {
            let folder = objectsDirectory.appendingPathComponent(prefix, isDirectory: true)
            for rest in directoryEntries(folder) {
                guard let digest = Digest(hex: prefix + rest), digest.hex == prefix + rest else { continue }
                result.append((digest, size(of: digest) ?? 0))
            }
        }
        return result.sorted { $0.digest < $1.digest }
    }

    /// Every readable action record (unreadable ones are reported and removed).
    public func allRecords() -> [ActionRecord] {
        directoryEntries(actionsDirectory)
            .filter { StageKey.isKeyName($0) }
            .compactMap { loadRecord(at: actionsDirectory.appendingPathComponent($0)) }
            .sorted { ($0.identity, $0.created) < ($1.identity, $1.created) }
    }

    /// Records and blob totals for `shrink cache ls`.
    public func listing() -> CacheListing {
        let objects = allObjects()
        return CacheListing(
            records: allRecords(), objectCount: objects.count, objectBytes: objects.reduce(0) { $0 + $1.size })
    }

    /// Re-hashes every blob and re-reads every record; removes corrupt blobs, unreadable records and
    /// records whose blobs are gone, so the next run recomputes them. Holds the store lock shared,
    /// so gc cannot make blobs disappear underneath it.
    public func verify() throws -> VerifyReport {
        let lock = try lockStore(.shared)
        defer { lock.release() }
        var report = VerifyReport()
        var present = Set<Digest>()
        for (digest, _) in allObjects() {
            report.checkedObjects += 1
            let url = objectURL(for: digest)
            if let actual = try? Digest.ofFile(at: url), actual == digest {
                present.insert(digest)
            } else {
                unlink(url.path)
                report.corruptObjects.append(digest)
            }
        }
        forgetVerified(report.corruptObjects)
        let decoder = ActionRecord.decoder()
        for name in directoryEntries(actionsDirectory) where StageKey.isKeyName(name) {
            report.checkedRecords += 1
            let url = actionsDirectory.appendingPathComponent(name)
            guard let data = try? Data(contentsOf: url),
                  let record = try? decoder.decode(ActionRecord.self, from: data), record.key.hex == name
            else {
                unlink(url.path)
                report.unreadableRecords.append(name)
                continue
            }
            if record.outputs.values.contains(where: { !present.contains($0.digest) }) {
                unlink(url.path)
                report.incompleteRecords.append(record)
            }
        }
        return report
    }

    /// Removes records unused for more than `keepDays` days unless they produce or are named by a
    /// pinned digest, then every blob no kept record references and no pin names, then leftover
    /// temporary and lock files. Holds the store lock exclusively: no run is mid-stage, so
    /// nothing removed can be something a running stage is about to publish or read.
    public func collectGarbage(keepDays: Double, pinned: Set<Digest> = [], now: Date = Date()) throws -> GCReport {
        let lock = try lockStore(.exclusive)
        defer { lock.release() }
        var report = GCReport()
        let cutoff = now.addingTimeInterval(-keepDays * 86_400)
        var referenced = pinned
        var keptIdentities = Set<String>()
        var keptKeys = Set<StageKey>()
        for record in allRecords() {
            let isPinned = pinned.contains(record.key.digest) || record.outputs.values.contains { pinned.contains($0.digest) }
            if record.lastUsed < cutoff && !isPinned {
                removeRecord(record.key)
                report.removedRecords += 1
            } else {
                report.keptRecords += 1
                keptKeys.insert(record.key)
                keptIdentities.insert(record.identity)
                for output in record.outputs.values { referenced.insert(output.digest) }
            }
        }
        var removed = [Digest]()
        for (digest, size) in allObjects() {
            if referenced.contains(digest) {
                report.keptObjects += 1
            } else if unlink(objectURL(for: digest).path) == 0 {
                removed.append(digest)
                report.removedObjects += 1
                report.freedBytes += size
            }
        }
        forgetVerified(removed)
        report.removedTemporaryFiles = removeTemporaryFiles()
        // Lock files are only opened by runs, which hold the store lock shared; none can be open now.
        for name in directoryEntries(locksDirectory) { unlink(locksDirectory.appendingPathComponent(name).path) }
        pruneIndex(keeping: keptIdentities, cutoff: cutoff)
        report.removedDescriptions = pruneDescriptions(keeping: keptKeys, cutoff: cutoff)
        return report
    }

    /// A description goes with its record; one whose stage never finished (a killed run) goes once
    /// it is older than the cutoff.
    private func pruneDescriptions(keeping keys: Set<StageKey>, cutoff: Date) -> Int {
        var count = 0
        for name in directoryEntries(descriptionsDirectory) where name.hasSuffix(".json") {
            let url = descriptionsDirectory.appendingPathComponent(name)
            let key = Digest(hex: String(name.dropLast(5))).map(StageKey.init)
            if let key, keys.contains(key) { continue }
            // No kept record: keep a recent one, whose stage a run may still be computing.
            var info = stat()
            if let key, record(for: key) == nil, stat(url.path, &info) == 0,
               Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec)) >= cutoff { continue }
            if unlink(url.path) == 0 { count += 1 }
        }
        return count
    }

    private func removeTemporaryFiles() -> Int {
        var count = 0
        var folders = [objectsDirectory, actionsDirectory, indexDirectory, descriptionsDirectory]
        folders += directoryEntries(objectsDirectory).filter { $0.utf8.count == 2 }
            .map { objectsDirectory.appendingPathComponent($0, isDirectory: true) }
        for folder in folders {
            for name in directoryEntries(folder) where name.hasPrefix(".tmp-") {
                if unlink(folder.appendingPathComponent(name).path) == 0 { count += 1 }
            }
        }
        return count
    }

    /// Index entries only explain reruns, so stale ones for identities with no record left go too.
    private func pruneIndex(keeping identities: Set<String>, cutoff: Date) {
        let decoder = ActionRecord.decoder()
        for name in directoryEntries(indexDirectory) where name.hasSuffix(".json") {
            let url = indexDirectory.appendingPathComponent(name)
            var info = stat()
            guard stat(url.path, &info) == 0 else { continue }
            let modified = Date(timeIntervalSince1970: Double(info.st_mtim.tv_sec))
            let entry = (try? Data(contentsOf: url)).flatMap { try? decoder.decode(IndexEntry.self, from: $0) }
            if let entry, identities.contains(entry.identity) { continue }
            if modified < cutoff || entry == nil { unlink(url.path) }
        }
    }
}

extension StageKey {
    static func isKeyName(_ name: String) -> Bool {
        guard let digest = Digest(hex: name) else { return false }
        return digest.hex == name
    }
}

/// Names in a directory, or none if it cannot be read.
func directoryEntries(_ url: URL) -> [String] {
    ((try? FileManager.default.contentsOfDirectory(atPath: url.path)) ?? []).sorted()
}

/// Digests that gc must keep because checked-in lock files refer to them.
public enum PinnedDigests {
    /// Every SHA-256 digest written in a `*.lock` file under `root` (hidden folders and `.build`
    /// skipped). Reads the files as text and takes any 64-hex-digit word, so it works whatever the
    /// lock file's layout is.
    public static func scan(repositoryRoot root: URL) -> Set<Digest> {
        var result = Set<Digest>()
        guard let walker = FileManager.default.enumerator(
            at: root, includingPropertiesForKeys: [.isDirectoryKey], options: [.skipsHiddenFiles])
        else { return result }
        for case let url as URL in walker {
            if url.lastPathComponent == ".build" || url.lastPathComponent == "node_modules" {
                walker.skipDescendants()
                continue
            }
            guard url.pathExtension == "lock", let text = try? String(contentsOf: url, encoding: .utf8) else { continue }
            result.formUnion(digests(in: text))
        }
        return result
    }

    /// Every 64-hex-digit word in `text`.
    public static func digests(in text: String) -> Set<Digest> {
        var result = Set<Digest>()
        var run = [UInt8]()
        func flush() {
            if run.count == 64, let digest = Digest(hex: String(decoding: run, as: UTF8.self)) { result.insert(digest) }
            run.removeAll(keepingCapacity: true)
        }
        for byte in text.utf8 {
            let isHex = (byte >= 48 && byte <= 57) || (byte >= 97 && byte <= 102) || (byte >= 65 && byte <= 70)
            if isHex { run.append(byte) } else { flush() }
        }
        flush()
        return result
    }
}
