import Foundation
import Synchronization

/// An advisory `flock(2)` lock on a file, held until `release()` or deinit.
///
/// `flock` locks belong to an open file description, so two `FileLock`s on one path exclude each
/// other even inside one process (each opens the file itself) — threads and processes are treated
/// alike. The kernel drops the lock when a holder dies, so a killed run never leaves a stale lock.
public final class FileLock: Sendable {
    /// Shared (many holders) or exclusive (one holder).
    public enum Mode: Sendable {
        /// Many holders at once; excludes exclusive holders.
        case shared
        /// A single holder.
        case exclusive
    }

    private let fd: Mutex<Int32>
    /// The lock file.
    public let path: String

    private init(fd: Int32, path: String) {
        self.fd = Mutex(fd)
        self.path = path
    }

    /// Takes the lock, blocking while another holder has it.
    public static func acquire(_ path: String, mode: Mode) throws -> FileLock {
        let fd = try openLockFile(path)
        while flock(fd, mode == .shared ? LOCK_SH : LOCK_EX) != 0 {
            let code = errno
            if code == EINTR { continue }
            close(fd)
            throw StoreError.io("cannot lock \(path)", code)
        }
        return FileLock(fd: fd, path: path)
    }

    /// Takes the lock if it is free; `nil` if someone else holds it.
    public static func tryAcquire(_ path: String, mode: Mode) throws -> FileLock? {
        let fd = try openLockFile(path)
        if flock(fd, (mode == .shared ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 {
            let code = errno
            close(fd)
            if code == EWOULDBLOCK { return nil }
            throw StoreError.io("cannot lock \(path)", code)
        }
        return FileLock(fd: fd, path: path)
    }

    private static func openLockFile(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw StoreError.io("cannot open lock file \(path)", errno) }
        return fd
    }

    /// Releases the lock; later calls do nothing.
    public func release() {
        fd.withLock { fd in
            if fd >= 0 {
                close(fd)  // closing the description releases the flock
                fd = -1
            }
        }
    }

    deinit { release() }
}
