import Foundation
import Testing
@testable import ShrinkBuild

/// Directory outputs: Shrink writes only into folders it created (or found empty), and keeps them
/// holding exactly the last export.
@Suite struct OwnedDirectoryTests {
    @Test func aNewFolderIsCreatedAndMarked() throws {
        let scratch = try Scratch()
        let folder = scratch.file("out/c-model")
        let owned = try OwnedDirectory.claim(folder)
        #expect(OwnedDirectory.isOwned(folder))
        try owned.synchronize(["model.c": Data("int x;".utf8), "include/model.h": Data("extern int x;".utf8)])
        #expect(try String(contentsOf: folder.appendingPathComponent("include/model.h"), encoding: .utf8) == "extern int x;")
    }

    @Test func anEmptyFolderIsAdopted() throws {
        let scratch = try Scratch()
        let folder = scratch.file("empty")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        _ = try OwnedDirectory.claim(folder)
        #expect(OwnedDirectory.isOwned(folder))
    }

    @Test func aForeignNonEmptyFolderIsRefusedAndLeftAlone() throws {
        let scratch = try Scratch()
        let folder = scratch.file("src")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        try Data("mine".utf8).write(to: folder.appendingPathComponent("main.c"))
        #expect(throws: OwnedDirectory.Failure.notOwned(folder.standardizedFileURL, entries: ["main.c"])) {
            try OwnedDirectory.claim(folder)
        }
        #expect(!OwnedDirectory.isOwned(folder))
        #expect(try String(contentsOf: folder.appendingPathComponent("main.c"), encoding: .utf8) == "mine")
    }

    @Test func aFileInTheWayIsRefused() throws {
        let scratch = try Scratch()
        let path = scratch.file("file")
        try Data("x".utf8).write(to: path)
        #expect(throws: OwnedDirectory.Failure.notAFolder(path.standardizedFileURL)) { try OwnedDirectory.claim(path) }
    }

    @Test func staleFilesOfAnOwnedFolderAreRemoved() throws {
        let scratch = try Scratch()
        let folder = scratch.file("out/c")
        try OwnedDirectory.claim(folder).synchronize([
            "a.c": Data("a".utf8), "old.c": Data("old".utf8), "gone/deep.h": Data("h".utf8),
        ])
        // A later export with fewer files: the claim succeeds (the folder is marked) and the
        // files of the earlier export that are not in this one go, with the folder they emptied.
        let removed = try OwnedDirectory.claim(folder).synchronize(["a.c": Data("a2".utf8)])
        #expect(removed == ["gone/", "gone/deep.h", "old.c"])
        let left = try FileManager.default.contentsOfDirectory(atPath: folder.path).sorted()
        #expect(left == [OwnedDirectory.markerName, "a.c"])
        #expect(try String(contentsOf: folder.appendingPathComponent("a.c"), encoding: .utf8) == "a2")
    }

    @Test func aSymlinkInsideIsRemovedNotFollowed() throws {
        let scratch = try Scratch()
        let outside = scratch.file("precious")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("keep".utf8).write(to: outside.appendingPathComponent("keep.txt"))
        let folder = scratch.file("out/c")
        let owned = try OwnedDirectory.claim(folder)
        try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent("link"), withDestinationURL: outside)
        try owned.synchronize(["a.c": Data("a".utf8)])
        #expect(FileManager.default.fileExists(atPath: outside.appendingPathComponent("keep.txt").path))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: folder.appendingPathComponent("link").path)) == nil)
    }

    @Test func namesLeavingTheFolderAreRefused() throws {
        let scratch = try Scratch()
        let owned = try OwnedDirectory.claim(scratch.file("out/c"))
        #expect(throws: OwnedDirectory.Failure.self) { try owned.synchronize(["../escape.c": Data()]) }
        #expect(!FileManager.default.fileExists(atPath: scratch.file("out/escape.c").path))
    }
}
