import Foundation

/// Where a repository's cache lives: the nearest folder at or above the working directory that
/// holds `.git`, so every command run anywhere in a checkout shares one `.shrink/cache`.
public enum RepositoryRoot {
    /// The nearest folder at or above `start` containing `.git` (a folder, or the file a git
    /// worktree has); `start` itself if there is none.
    public static func find(from start: URL = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)) -> URL {
        let origin = start.standardizedFileURL
        var folder = origin
        while true {
            if FileManager.default.fileExists(atPath: folder.appendingPathComponent(".git").path) { return folder }
            let parent = folder.deletingLastPathComponent()
            if parent.path == folder.path { return origin }
            folder = parent
        }
    }
}
