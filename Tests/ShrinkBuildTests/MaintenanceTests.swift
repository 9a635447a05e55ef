import Foundation
import Testing
@testable import ShrinkBuild

@Suite struct MaintenanceTests {
    @Test func listShowsEveryRecord() throws {
        let scratch = try Scratch()
        let toy = Toy()
        try toy.run(root: scratch.url)
        let listing = try Store(repositoryRoot: scratch.url).listing()
        #expect(listing.records.count == toy.coldCount)
        #expect(Set(listing.records.map(\.kind)) == ["source", "upper", "read", "concat", "hash", "search", "eval"])
        #expect(listing.objectBytes > 0)
        #expect(listing.records.first { $0.identity == "source:a" }?.size == 5)
    }

    @Test func verifyFindsAndRemovesCorruptBlobs() throws {
        let scratch = try Scratch()
        let toy = Toy()
        let cold = try toy.run(root: scratch.url)
        let store = try Store(repositoryRoot: scratch.url)
        #expect(try store.verify().isClean)

        let digest = try #require(cold.results["concat"]?.outputs["text"])
        try Data("tampered".utf8).write(to: store.objectURL(for: digest))
        let report = try store.verify()
        #expect(!report.isClean)
        #expect(report.corruptObjects == [digest])
        #expect(report.incompleteRecords.map(\.identity) == ["concat"])
        #expect(!FileManager.default.fileExists(atPath: store.objectURL(for: digest).path))
        #expect(try store.verify().isClean)  // repaired
        #expect(try toy.run(root: scratch.url).executedIdentities == ["concat"])
    }

    @Test func gcRemovesStaleRecordsAndUnreferencedBlobsButKeepsPinned() throws {
        let scratch = try Scratch()
        var toy = Toy()
        let old = try toy.run(root: scratch.url)
        let store = try Store(repositoryRoot: scratch.url)
        // Age every record by 10 days, as if last used then.
        for record in store.allRecords() {
            let path = store.actionURL(for: record.key).path
            var times = [timespec(tv_sec: time(nil) - 10 * 86_400, tv_nsec: 0), timespec(tv_sec: time(nil) - 10 * 86_400, tv_nsec: 0)]
            #expect(utimensat(AT_FDCWD, path, &times, 0) == 0)
        }
        // A second run with a new b reuses some records (bumping their last use) and adds new ones.
        toy.b = "gamma"
        try toy.run(root: scratch.url)
        let pinned = try #require(old.results["hash"]?.outputs["digest"])
        // A stray temporary file, as a killed run leaves.
        try Data("partial".utf8).write(to: store.objectsDirectory.appendingPathComponent(".tmp-1-x"))

        let report = try store.collectGarbage(keepDays: 7, pinned: [pinned])
        // Stale and unpinned: old source:b, upper:b, concat, search and 4 evals. Old hash is pinned.
        #expect(report.removedRecords == 8)
        #expect(report.keptRecords == toy.coldCount + 1)
        #expect(report.removedTemporaryFiles == 1)
        #expect(report.removedObjects > 0)
        #expect(store.contains(pinned))
        #expect(try store.verify().isClean)
        // The current pipeline is still entirely cached; the old one partly recomputes.
        #expect(try toy.run(root: scratch.url).executedCount == 0)
        toy.b = "beta"
        #expect(try toy.run(root: scratch.url).executedIdentities == ["source:b", "upper:b", "concat", "search", "eval:r1", "eval:r2", "eval:r3", "eval:r4"])
    }

    /// Stage descriptions (what `exec-stage` runs by key) stay with their records; an old one whose
    /// stage never finished (a killed run) goes.
    @Test func gcKeepsDescriptionsOfKeptRecordsAndDropsOrphans() throws {
        let scratch = try Scratch()
        try Toy().run(root: scratch.url)
        let store = try Store(repositoryRoot: scratch.url)
        let keys = Set(store.allRecords().map(\.key))
        #expect(!keys.isEmpty && keys.allSatisfy { (try? store.description(for: $0)) != nil })
        let orphan = store.descriptionURL(for: StageKey(Digest.of("never finished")))
        let recent = store.descriptionURL(for: StageKey(Digest.of("still running")))
        try Data("{}".utf8).write(to: orphan)
        try Data("{}".utf8).write(to: recent)
        var times = [timespec(tv_sec: time(nil) - 40 * 86_400, tv_nsec: 0), timespec(tv_sec: time(nil) - 40 * 86_400, tv_nsec: 0)]
        #expect(utimensat(AT_FDCWD, orphan.path, &times, 0) == 0)
        let report = try store.collectGarbage(keepDays: 30)
        #expect(report.removedDescriptions == 1)
        #expect(!FileManager.default.fileExists(atPath: orphan.path) && FileManager.default.fileExists(atPath: recent.path))
        #expect(keys.allSatisfy { (try? store.description(for: $0)) != nil })
    }

    @Test func gcKeepsEverythingRecent() throws {
        let scratch = try Scratch()
        let toy = Toy()
        try toy.run(root: scratch.url)
        let report = try Store(repositoryRoot: scratch.url).collectGarbage(keepDays: 30)
        #expect(report.removedRecords == 0)
        #expect(report.removedObjects == 0)
        #expect(try toy.run(root: scratch.url).executedCount == 0)
    }

    @Test func pinnedDigestsAreReadFromLockFiles() throws {
        let scratch = try Scratch()
        let a = Digest.of("a"), b = Digest.of("b")
        try FileManager.default.createDirectory(at: scratch.file("pipelines"), withIntermediateDirectories: true)
        try "model: sha256:\(a.hex)\nranks: { conv2: 16 }\nout: \(b.hex.uppercased())  # x\nshort: abc123\n"
            .write(to: scratch.file("pipelines/kws.lock"), atomically: true, encoding: .utf8)
        try "\(Digest.of("c").hex)".write(to: scratch.file("pipelines/notes.txt"), atomically: true, encoding: .utf8)
        #expect(PinnedDigests.scan(repositoryRoot: scratch.url) == [a, b])
    }

    @Test func repositoryRootIsTheNearestGitFolder() throws {
        let scratch = try Scratch()
        try FileManager.default.createDirectory(at: scratch.file("repo/.git"), withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: scratch.file("repo/pipelines/deep"), withIntermediateDirectories: true)
        #expect(RepositoryRoot.find(from: scratch.file("repo/pipelines/deep")).path == scratch.file("repo").standardizedFileURL.path)
        #expect(RepositoryRoot.find(from: scratch.url).path.hasPrefix(scratch.url.standardizedFileURL.path))
    }
}
