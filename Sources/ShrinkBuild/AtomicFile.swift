import Foundation
import Synchronization

/// Errors of the store and of the file operations under it.
public enum StoreError: Error, CustomStringConvertible {
    /// A system call failed; the message names the file, the code is `errno`.
    case io(String, Int32)
    /// A blob the caller needs is not in the store.
    case missingObject(Digest)
    /// A blob's content does not match its name; it has been removed.
    case corruptObject(Digest)

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .io(let message, let code): return "\(message): \(String(cString: strerror(code)))"
        case .missingObject(let d): return "cache: object \(d.short)… is missing"
        case .corruptObject(let d): return "cache: object \(d.short)… is corrupt"
        }
    }
}

/// A temporary file beside its destination that becomes visible only through `rename(2)`, so a
/// reader sees either nothing or the whole content — never a prefix.
final class TemporaryFile {
    let url: URL
    private var fd: Int32

    /// Creates `.tmp-<pid>-<random>` in `directory` (same directory ⇒ same file system ⇒ atomic rename).
    init(in directory: URL) throws {
        var attempt = 0
        while true {
            let name = ".tmp-\(getpid())-\(String(UInt64.random(in: 0...UInt64.max), radix: 36))"
            let candidate = directory.appendingPathComponent(name)
            let opened = open(candidate.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o644)
            if opened >= 0 {
                url = candidate
                fd = opened
                return
            }
            attempt += 1
            if errno != EEXIST || attempt > 8 { throw StoreError.io("cannot create a file in \(directory.path)", errno) }
        }
    }

    /// Appends bytes, retrying short writes.
    func append(_ bytes: UnsafeRawBufferPointer) throws {
        guard var base = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            let n = write(fd, base, left)
            if n < 0 {
                if errno == EINTR { continue }
                throw StoreError.io("cannot write \(url.path)", errno)
            }
            left -= n
            base += n
        }
    }

    /// Appends `data`.
    func append(_ data: Data) throws {
        try data.withUnsafeBytes { try append($0) }
    }

    /// Renames over `destination`, first flushing to disk when `durable`; counts as a publish point
    /// when asked, which is where the crash-test hook may kill the process (before the rename).
    ///
    /// The rename alone survives a killed process. `durable` adds fsyncs of the file and its folder
    /// so it also survives a power loss; the cache does without (every blob is verified against its
    /// digest on first read and unreadable records are recomputed, so a lost write costs only a
    /// recomputation), because a search publishes hundreds of small files and two fsyncs each
    /// were ≈ 10 % of a LeNet search's wall time. Files a user keeps (exports, lock files) are durable.
    func commit(to destination: URL, publishPoint: Bool, durable: Bool = true) throws {
        if durable {
            guard fsync(fd) == 0 else { throw StoreError.io("cannot flush \(url.path)", errno) }
        }
        close(fd)
        fd = -1
        if publishPoint { CrashTestHook.publishPoint() }
        guard rename(url.path, destination.path) == 0 else {
            let code = errno
            unlink(url.path)
            throw StoreError.io("cannot rename into \(destination.path)", code)
        }
        // Makes the rename itself durable across a power loss, not just a killed process.
        if durable { syncDirectory(destination.deletingLastPathComponent()) }
    }

    /// Removes the file if it was not committed.
    func discard() {
        if fd >= 0 {
            close(fd)
            fd = -1
            unlink(url.path)
        }
    }

    deinit { discard() }
}

/// Whole-file atomic writes: readers see all of a file or none of it.
public enum AtomicFile {
    /// Writes `data` to `url` through a temporary file beside it and a rename (fsynced, with its
    /// folder, unless `durable` is false).
    public static func write(_ data: Data, to url: URL, publishPoint: Bool = false, durable: Bool = true) throws {
        let temp = try TemporaryFile(in: url.deletingLastPathComponent())
        try temp.append(data)
        try temp.commit(to: url, publishPoint: publishPoint, durable: durable)
    }
}

/// Creates a directory and its parents; existing ones are fine.
func makeDirectory(_ url: URL) throws {
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), isDirectory.boolValue { return }
    do {
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    } catch {
        throw StoreError.io("cannot create directory \(url.path) (\(error.localizedDescription))", EIO)
    }
}

func syncDirectory(_ url: URL) {
    let fd = open(url.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if fd >= 0 {
        fsync(fd)
        close(fd)
    }
}

/// The test hook for crash safety: `SHRINK_TEST_KILL_AT=publish:N` makes the process SIGKILL itself
/// at the N-th publish point (every blob or action record about to be renamed into place), so a
/// test can check that a run killed anywhere leaves a consistent cache.
public enum CrashTestHook {
    private static let state = Mutex<Int>(0)
    private static let killAt: Int? = {
        guard let spec = ProcessInfo.processInfo.environment["SHRINK_TEST_KILL_AT"],
              spec.hasPrefix("publish:"), let n = Int(spec.dropFirst("publish:".count)), n > 0
        else { return nil }
        return n
    }()

    /// How many publish points this process has passed.
    public static var publishCount: Int { state.withLock { $0 } }

    static func publishPoint() {
        let n = state.withLock { count -> Int in
            count += 1
            return count
        }
        if let killAt, n == killAt { kill(getpid(), SIGKILL) }
    }
}
