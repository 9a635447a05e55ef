import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The outcome of running an external tool.
public struct ToolRun: Sendable, Equatable {
    /// The exit status (128 + signal when killed by one).
    public var status: Int32
    /// What it wrote to stdout.
    public var stdout: String
    /// What it wrote to stderr.
    public var stderr: String
    /// True when it ran past its time limit and was killed.
    public var timedOut: Bool
    /// Wall-clock seconds.
    public var seconds: Double
}

/// Starts external tools (gcc, arm-none-eabi-gcc, qemu-system-arm) in a process group of their
/// own, waits with a time limit, and on timeout kills that group by its id: nothing started
/// here is left running (a hard fault makes QEMU loop forever, so the limit is not optional).
public enum ToolRunner {
    /// The full path of `tool` on PATH, nil when it is not installed.
    public static func locate(_ tool: String) -> String? {
        if tool.contains("/") { return FileManager.default.isExecutableFile(atPath: tool) ? tool : nil }
        let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
        for dir in path.split(separator: ":") {
            let p = "\(dir)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: p) { return p }
        }
        return nil
    }

    /// Runs `executable` with `arguments` (give absolute paths: the working directory is not
    /// changed, as tests run in parallel), stdin from /dev/null, stdout and stderr captured through
    /// files in `directory`; after `timeout` seconds its whole process group is killed (while its
    /// leader is still unreaped, so the id cannot have been reused).
    public static func run(_ executable: String, _ arguments: [String], in directory: URL,
                           timeout: Double) throws(DeviceError) -> ToolRun {
        let tag = "\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let outPath = directory.appendingPathComponent(".tool-\(tag).out").path
        let errPath = directory.appendingPathComponent(".tool-\(tag).err").path
        defer {
            unlink(outPath)
            unlink(errPath)
        }
        var actions = posix_spawn_file_actions_t()
        var attributes = posix_spawnattr_t()
        posix_spawn_file_actions_init(&actions)
        posix_spawnattr_init(&attributes)
        defer {
            posix_spawn_file_actions_destroy(&actions)
            posix_spawnattr_destroy(&attributes)
        }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        // Its own process group (id = its pid), so the tool and whatever it starts can be killed together.
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETPGROUP))
        posix_spawnattr_setpgroup(&attributes, 0)

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        defer { for a in argv { free(a) } }
        var pid: pid_t = 0
        let started = Date()
        let rc = posix_spawn(&pid, executable, &actions, &attributes, argv, environ)
        guard rc == 0 else {
            throw DeviceError(.toolchainFailed, "cannot start \(executable): \(String(cString: strerror(rc)))")
        }
        var status: Int32 = 0
        var timedOut = false
        while true {
            let r = waitpid(pid, &status, WNOHANG)
            if r == pid { break }
            if r < 0 && errno != EINTR { break }
            if Date().timeIntervalSince(started) > timeout {
                kill(-pid, SIGKILL)
                while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
                timedOut = true
                break
            }
            usleep(2000)
        }
        let signal = status & 0x7f
        let code = signal == 0 ? (status >> 8) & 0xff : 128 + signal
        func read(_ p: String) -> String {
            (try? String(contentsOfFile: p, encoding: .utf8)) ?? ""
        }
        return ToolRun(status: code, stdout: read(outPath), stderr: read(errPath), timedOut: timedOut,
                       seconds: Date().timeIntervalSince(started))
    }
}
