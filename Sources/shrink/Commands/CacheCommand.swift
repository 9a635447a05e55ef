import ArgumentParser
import Foundation
import ShrinkBuild

/// `shrink cache ls|verify|gc|push|pull`: inspect and maintain the repository's build cache, and
/// move a pipeline's results to and from the team cache.
struct CacheCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "cache",
        abstract: "Inspect and maintain the build cache (.shrink/cache).",
        subcommands: [List.self, Verify.self, GC.self, Push.self, Pull.self])
}

/// The option every `cache` subcommand takes.
struct CacheLocation: ParsableArguments {
    @Option(help: "Repository root holding .shrink/cache (default: the nearest folder above the working directory with .git).")
    var root: String?

    var rootURL: URL {
        root.map { URL(fileURLWithPath: $0, isDirectory: true) } ?? RepositoryRoot.find()
    }

    var cacheURL: URL { rootURL.appendingPathComponent(".shrink/cache", isDirectory: true) }

    /// The store, or nil (after saying so) when the repository has no cache yet.
    func existingStore() throws -> Store? {
        guard FileManager.default.fileExists(atPath: cacheURL.path) else {
            print("no cache at \(cacheURL.path)")
            return nil
        }
        return try Store(directory: cacheURL)
    }
}

extension CacheCommand {
    /// `shrink cache ls`.
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "ls", abstract: "List cached stage results: identity, kind, size, last use.")

        @OptionGroup var location: CacheLocation

        func run() throws {
            guard let store = try location.existingStore() else { return }
            let listing = store.listing()
            let formatter = DateFormatter()
            formatter.dateFormat = "yyyy-MM-dd HH:mm"
            let rows = listing.records.map { record in
                [record.identity, record.kind, byteCount(record.size), formatter.string(from: record.lastUsed), record.key.short]
            }
            if !rows.isEmpty { printTable(header: ["IDENTITY", "KIND", "SIZE", "LAST USED", "KEY"], rows: rows) }
            print("\(listing.records.count) records, \(listing.objectCount) objects, \(byteCount(listing.objectBytes))")
        }
    }

    /// `shrink cache verify`.
    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Re-hash every cached object; remove corrupt ones so they are recomputed.",
            discussion: "Exits 1 if anything was damaged (and has now been removed), 0 if the cache was intact.")

        @OptionGroup var location: CacheLocation

        func run() throws {
            guard let store = try location.existingStore() else { return }
            let report = try store.verify()
            for digest in report.corruptObjects {
                print("corrupt object \(digest.short)… removed")
            }
            for name in report.unreadableRecords {
                print("unreadable record \(name.prefix(12))… removed")
            }
            for record in report.incompleteRecords {
                print("\(record.identity): outputs missing; record \(record.key.short)… removed")
            }
            print("checked \(report.checkedObjects) objects and \(report.checkedRecords) records: "
                + (report.isClean ? "all intact" : "damage found and removed; the next run recomputes it"))
            if !report.isClean { throw ExitCode(1) }
        }
    }

    /// `shrink cache gc`.
    struct GC: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "gc",
            abstract: "Remove results unused for a while, keeping everything a checked-in lock file names.",
            discussion: """
            Waits for running `shrink run`s to finish (they hold the cache lock shared). Digests written in \
            any *.lock file under the repository root are kept, as are those given with --pin.
            """)

        @OptionGroup var location: CacheLocation

        @Option(help: "Keep results used within this many days.")
        var keepDays: Double = 30

        @Option(name: .customLong("pin"), help: "A digest to keep regardless of age (repeatable).")
        var pins: [String] = []

        func validate() throws {
            guard keepDays >= 0 else { throw ValidationError("--keep-days must be 0 or more") }
            for pin in pins where Digest(hex: pin.hasPrefix("sha256:") ? String(pin.dropFirst(7)) : pin) == nil {
                throw ValidationError("--pin \(pin) is not a SHA-256 digest")
            }
        }

        func run() throws {
            guard let store = try location.existingStore() else { return }
            var pinned = PinnedDigests.scan(repositoryRoot: location.rootURL)
            for pin in pins {
                if let digest = Digest(hex: pin.hasPrefix("sha256:") ? String(pin.dropFirst(7)) : pin) { pinned.insert(digest) }
            }
            let report = try store.collectGarbage(keepDays: keepDays, pinned: pinned)
            print("removed \(report.removedRecords) records, \(report.removedObjects) objects (\(byteCount(report.freedBytes))) and \(report.removedDescriptions) stage descriptions; "
                + "kept \(report.keptRecords) records and \(report.keptObjects) objects")
        }
    }
}

private func byteCount(_ bytes: Int64) -> String {
    if bytes < 1024 { return "\(bytes) B" }
    var value = Double(bytes)
    for unit in ["KiB", "MiB", "GiB"] {
        value /= 1024
        if value < 1024 || unit == "GiB" { return String(format: "%.1f", value) + " " + unit }
    }
    return "\(bytes) B"
}

private func printTable(header: [String], rows: [[String]]) {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { $0[column].count }.max() ?? 0 }
    for row in all {
        let cells = row.enumerated().map { column, cell in
            column == row.count - 1 ? cell : cell.padding(toLength: widths[column], withPad: " ", startingAt: 0)
        }
        print(cells.joined(separator: "  "))
    }
}
