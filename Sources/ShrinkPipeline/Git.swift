import Foundation

/// A recipe imported from a git repository, as the lock file records it.
public struct GitRecipe: Sendable, Hashable, Codable {
    /// The repository URL as written (relative local paths made absolute).
    public var url: String
    /// The full commit hash.
    public var rev: String
    /// The file's path inside the repository.
    public var path: String
    /// SHA-256 (hex) of the file's content at that commit.
    public var digest: String
    /// The copy of the file in the recipe cache; diagnostics point here.
    public var cachedFile: URL

    /// Creates a record.
    public init(url: String, rev: String, path: String, digest: String, cachedFile: URL) {
        self.url = url
        self.rev = rev
        self.path = path
        self.digest = digest
        self.cachedFile = cachedFile
    }
}

struct GitFailure: Error {
    var message: String
}

/// Fetches recipe files with the system `git`, one bare repository per (URL, commit) under the
/// cache folder. Keyed by commit (never by branch) so a cached copy can never go stale.
struct GitFetcher {
    let cache: URL

    /// The cache folder for a (url, rev) pair.
    func folder(url: String, rev: String) -> URL {
        cache.appendingPathComponent(SHA256Digest.hex(url + "\n" + rev), isDirectory: true)
    }

    /// Makes sure the commit is in the cache; returns the bare repository.
    func fetch(url: String, rev: String) throws(GitFailure) -> URL {
        let folder = folder(url: url, rev: rev)
        let repo = folder.appendingPathComponent("repo.git", isDirectory: true)
        if FileManager.default.fileExists(atPath: repo.path),
           runGit(["-C", repo.path, "cat-file", "-e", "\(rev)^{commit}"]).status == 0 {
            return repo
        }
        do {
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        } catch {
            throw GitFailure(message: "cannot create the recipe cache folder: \(error.localizedDescription)")
        }
        // Fetch into a private folder and rename it into place, so concurrent loads never see a
        // half-fetched repository.
        let staging = folder.appendingPathComponent("repo.git.tmp-\(UUID().uuidString)", isDirectory: true)
        defer { try? FileManager.default.removeItem(at: staging) }
        let initRun = runGit(["init", "--bare", "--quiet", staging.path])
        guard initRun.status == 0 else { throw GitFailure(message: "git init failed: \(firstLine(initRun.stderr))") }
        // Fetching one commit by hash is cheapest; servers that refuse unadvertised objects get a
        // full fetch instead.
        let single = runGit(["-C", staging.path, "fetch", "--quiet", "--no-tags", "--depth", "1", "--", url, rev])
        if single.status != 0 {
            let full = runGit(["-C", staging.path, "fetch", "--quiet", "--no-tags", "--", url,
                               "+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"])
            guard full.status == 0 else { throw GitFailure(message: "cannot fetch `\(url)`: \(firstLine(full.stderr))") }
        }
        guard runGit(["-C", staging.path, "cat-file", "-e", "\(rev)^{commit}"]).status == 0 else {
            throw GitFailure(message: "commit `\(rev)` is not in `\(url)`")
        }
        do {
            try FileManager.default.moveItem(at: staging, to: repo)
        } catch {
            // Another load won the race; its copy holds the same commit.
            guard FileManager.default.fileExists(atPath: repo.path) else {
                throw GitFailure(message: "cannot store the fetched repository: \(error.localizedDescription)")
            }
        }
        return repo
    }

    /// The content of `path` at `rev`, or nil when the commit has no such file.
    func show(repo: URL, rev: String, path: String) -> Data? {
        let run = runGit(["-C", repo.path, "cat-file", "blob", "\(rev):\(path)"])
        return run.status == 0 ? run.stdout : nil
    }

    /// Keeps a readable copy of a fetched file so diagnostics can point at real lines.
    func materialize(url: String, rev: String, path: String, content: Data) -> URL {
        let file = folder(url: url, rev: rev).appendingPathComponent("files", isDirectory: true)
            .appendingPathComponent(path)
        try? FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
        try? content.write(to: file, options: .atomic)
        return file
    }
}

private func firstLine(_ text: String) -> String {
    let line = text.split(separator: "\n").first.map(String.init) ?? ""
    return line.isEmpty ? "git reported no reason" : line
}

/// Runs git without a shell and without prompting. stderr goes to a temporary file rather than a
/// second pipe, so a chatty git cannot deadlock against our reading stdout.
func runGit(_ arguments: [String]) -> (status: Int32, stdout: Data, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["git", "-c", "protocol.file.allow=always", "-c", "uploadpack.allowAnySHA1InWant=true"] + arguments
    var environment = ProcessInfo.processInfo.environment
    environment["GIT_TERMINAL_PROMPT"] = "0"
    environment["LC_ALL"] = "C"
    process.environment = environment
    let output = Pipe()
    let errorFile = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-git-\(UUID().uuidString).err")
    _ = FileManager.default.createFile(atPath: errorFile.path, contents: nil)
    defer { try? FileManager.default.removeItem(at: errorFile) }
    guard let errorHandle = try? FileHandle(forWritingTo: errorFile) else { return (-1, Data(), "cannot create a temporary file") }
    process.standardOutput = output
    process.standardError = errorHandle
    process.standardInput = FileHandle.nullDevice
    do {
        try process.run()
    } catch {
        try? errorHandle.close()
        return (-1, Data(), "cannot run git: \(error.localizedDescription)")
    }
    let stdout = output.fileHandleForReading.readDataToEndOfFile()
    process.waitUntilExit()
    try? errorHandle.close()
    let stderr = (try? String(contentsOf: errorFile, encoding: .utf8)) ?? ""
    return (process.terminationStatus, stdout, stderr)
}
