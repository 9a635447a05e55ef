import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Turns SIGINT and SIGTERM into a clean stop of the runs in progress, for the whole process.
///
/// Dispatch signal sources are unreliable here: on Linux they read a `signalfd`, which only sees
/// a signal that is blocked in *every* thread, and an ignored signal is dropped before any thread
/// sees it (a run ignored Ctrl-C entirely). A process may also start with the signals blocked
/// (spawned from a thread that blocks them); the watching thread unblocks them for itself. This watcher uses the self-pipe pattern instead: a
/// process-wide `sigaction` handler, which runs on whichever thread the kernel picks, writes the
/// signal number into a pipe (`write` is async-signal-safe), and a dedicated thread — never a
/// Dispatch worker that BLAS work could keep busy — reads the pipe and acts:
///
/// - the first signal while runs are registered cancels them (no new stage starts; stages still
///   running are abandoned unpublished after the scheduler's grace period);
/// - a second signal, or a signal while nothing is registered (loading, exporting), ends the
///   process at once with `_exit(128 + signal)`: 130 for SIGINT, 143 for SIGTERM. The cache is
///   then exactly as consistent as after a kill, which it is built to survive.
public final class InterruptWatcher: Sendable {
    /// The watcher of this process.
    public static let shared = InterruptWatcher()

    /// The signals handled.
    public static let signals: [Int32] = [SIGINT, SIGTERM]

    /// The conventional exit status of a process ended by `signal`: 130 for SIGINT, 143 for SIGTERM.
    public static func exitStatus(for signal: Int32) -> Int32 { 128 + signal }

    private struct State {
        var installed = false
        var handlers: [UInt64: @Sendable (Int32) -> Void] = [:]
        var nextID: UInt64 = 0
        /// The first signal that cancelled something; later registrations are cancelled at once.
        var received: Int32?
    }

    private let state = Mutex(State())

    private init() {}

    /// Installs the signal handlers and starts the watching thread (once per process). Call it
    /// early; `register` calls it too.
    public func install() {
        let first = state.withLock { state -> Bool in
            defer { state.installed = true }
            return !state.installed
        }
        guard first else { return }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { return }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        // A full pipe must never block the handler; a lost byte only loses a repeated signal.
        _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        interruptPipeWriteEnd.store(fds[1], ordering: .sequentiallyConsistent)
        let readEnd = fds[0]
        let thread = Thread { [self] in self.watch(readEnd) }
        thread.name = "shrink.signals"
        thread.start()
        for number in Self.signals {
            var action = sigaction()
            #if canImport(Glibc)
            action.__sigaction_handler.sa_handler = interruptSignalHandler
            action.sa_flags = SA_RESTART
            #else
            action.__sigaction_u.__sa_handler = interruptSignalHandler
            action.sa_flags = SA_RESTART
            #endif
            sigemptyset(&action.sa_mask)
            sigaction(number, &action, nil)
        }
        Self.unblockSignals()
    }

    /// Unblocks SIGINT and SIGTERM in the calling thread.
    private static func unblockSignals() {
        var set = sigset_t()
        sigemptyset(&set)
        for number in signals { sigaddset(&set, number) }
        pthread_sigmask(SIG_UNBLOCK, &set, nil)
    }

    /// Calls `onSignal` with the signal number at the first SIGINT/SIGTERM until the returned
    /// registration is removed; if a signal already cancelled something, calls it at once.
    public func register(_ onSignal: @escaping @Sendable (Int32) -> Void) -> Registration {
        install()
        let (id, received) = state.withLock { state -> (UInt64, Int32?) in
            state.nextID += 1
            state.handlers[state.nextID] = onSignal
            return (state.nextID, state.received)
        }
        if let received { onSignal(received) }
        return Registration(id: id, watcher: self)
    }

    /// A registered handler; `remove()` it when the run it cancels is over.
    public struct Registration: Sendable {
        let id: UInt64
        let watcher: InterruptWatcher

        /// Stops calling the handler.
        public func remove() { _ = watcher.state.withLock { $0.handlers.removeValue(forKey: id) } }
    }

    private func watch(_ fd: Int32) {
        // This thread takes the signals even when the process started with them blocked (a child
        // of a thread that blocks signals, as Dispatch and Swift concurrency workers do, inherits
        // that mask, and a blocked signal never reaches a handler).
        Self.unblockSignals()
        var byte: UInt8 = 0
        while true {
            let n = read(fd, &byte, 1)
            if n < 0 && errno == EINTR { continue }
            guard n == 1 else { return }
            handle(Int32(byte))
        }
    }

    private func handle(_ number: Int32) {
        let handlers: [@Sendable (Int32) -> Void]? = state.withLock { state in
            guard state.received == nil, !state.handlers.isEmpty else { return nil }
            state.received = number
            return state.handlers.sorted { $0.key < $1.key }.map(\.value)
        }
        guard let handlers else {
            let message = "\ninterrupted (\(number == SIGTERM ? "SIGTERM" : "SIGINT")); stopped at once\n"
            message.utf8CString.withUnsafeBufferPointer { _ = write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
            _exit(Self.exitStatus(for: number))
        }
        for handler in handlers { handler(number) }
    }
}

/// The pipe the signal handler writes to; -1 until installed.
private let interruptPipeWriteEnd = Atomic<Int32>(-1)

/// Async-signal-safe: one atomic load and one `write`.
private func interruptSignalHandler(_ number: Int32) {
    let saved = errno
    var byte = UInt8(truncatingIfNeeded: number)
    let fd = interruptPipeWriteEnd.load(ordering: .relaxed)
    if fd >= 0 { _ = write(fd, &byte, 1) }
    errno = saved
}
