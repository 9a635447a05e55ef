import Foundation
import Testing
@testable import ShrinkBuild

@Suite struct StoreTests {
    @Test func blobsAreContentAddressedAndVerified() throws {
        let scratch = try Scratch()
        let store = try Store(repositoryRoot: scratch.url)
        let digest = try store.put(Data("hello".utf8))
        #expect(digest == Digest.of("hello"))
        #expect(store.objectURL(for: digest).path.hasSuffix(".shrink/cache/objects/\(digest.hex.prefix(2))/\(digest.hex.dropFirst(2))"))
        #expect(try store.read(digest) == Data("hello".utf8))
        #expect(try store.put(Data("hello".utf8)) == digest)

        let source = scratch.file("big.bin")
        try Data(repeating: 7, count: 3 << 20).write(to: source)
        let big = try store.putFile(at: source)
        #expect(big == Digest.of(Data(repeating: 7, count: 3 << 20)))
        #expect(store.size(of: big) == 3 << 20)
        // No temporary files are left behind.
        let leftovers = try FileManager.default.subpathsOfDirectory(atPath: store.directory.path).filter { $0.contains(".tmp-") }
        #expect(leftovers.isEmpty)
    }

    @Test func aRecordWithoutItsBlobsCannotBePublished() throws {
        let scratch = try Scratch()
        let store = try Store(repositoryRoot: scratch.url)
        let (key, components) = try StageKey.derive(kind: "k", version: 1, parameters: EmptyParameters(), inputs: [:])
        let record = ActionRecord(key: key, kind: "k", identity: "k", outputs: ["out": .init(digest: Digest.of("absent"), size: 6)],
                                  components: components, created: Date(), elapsed: nil)
        #expect(throws: StoreError.self) { try store.publish(record) }
        #expect(store.record(for: key) == nil)
    }

    @Test func unreadableRecordIsAMiss() throws {
        let scratch = try Scratch()
        let warnings = Warnings()
        let store = try Store(repositoryRoot: scratch.url, warn: { warnings.add($0) })
        let key = StageKey(Digest.of("some key"))
        try Data("{ not json".utf8).write(to: store.actionURL(for: key))
        #expect(store.lookup(key) == nil)
        #expect(warnings.all.count == 1)
        #expect(!FileManager.default.fileExists(atPath: store.actionURL(for: key).path))
    }

    @Test func actionLocksExcludeAcrossOpenFileDescriptions() throws {
        let scratch = try Scratch()
        let one = try Store(repositoryRoot: scratch.url)
        let two = try Store(repositoryRoot: scratch.url)
        let key = StageKey(Digest.of("k"))
        let held = try one.lockAction(key)
        #expect(try FileLock.tryAcquire(two.actionLockPath(key), mode: .exclusive) == nil)
        held.release()
        #expect(try FileLock.tryAcquire(two.actionLockPath(key), mode: .exclusive) != nil)

        let shared = try one.lockStore(.shared)
        #expect(try FileLock.tryAcquire(two.storeLockPath, mode: .shared) != nil)
        #expect(try FileLock.tryAcquire(two.storeLockPath, mode: .exclusive) == nil)
        shared.release()
    }

    @Test(arguments: ["decompose:conv2", "search:conv2/r=8", "..", "a b/ü", String(repeating: "x", count: 300)])
    func identityFileNamesAreSafe(identity: String) throws {
        let name = Store.fileName(for: identity)
        #expect(!name.contains("/"))
        #expect(!name.hasPrefix("."))
        #expect(name.utf8.count <= 200)
        let scratch = try Scratch()
        let store = try Store(repositoryRoot: scratch.url)
        let (key, components) = try StageKey.derive(kind: "k", version: 1, parameters: EmptyParameters(), inputs: [:])
        store.updateIndex(IndexEntry(identity: identity, key: key, components: components))
        #expect(store.lastEntry(forIdentity: identity)?.key == key)
    }
}
