import Dispatch
import Foundation

/// The Slurm client tools (`sbatch`, `squeue`, `scontrol`, `scancel`, `sinfo`) as typed calls.
/// They talk to the controller named by `SLURM_CONF` (or the site default), which every call
/// inherits from this process's environment.
public struct SlurmCommands: Sendable {
    /// What one tool call printed and how it ended.
    public struct Output: Sendable {
        /// Exit status (-1: timed out or could not start).
        public var status: Int32
        /// Standard output.
        public var stdout: String
        /// Standard error, trimmed.
        public var stderr: String
    }

    /// A job as `squeue` lists it.
    public struct QueuedJob: Sendable, Equatable {
        /// The job id.
        public var id: String
        /// The job name.
        public var name: String
        /// The state (`PENDING`, `RUNNING`, `COMPLETING`…).
        public var state: String
        /// The job's comment (where Shrink keeps its stage keys).
        public var comment: String
    }

    /// Seconds a tool may take before it is given up (a controller that does not answer).
    public var timeout: Double

    /// Calls with `timeout` seconds per tool.
    public init(timeout: Double = 30) { self.timeout = timeout }

    /// The path of `tool` on `PATH`, or nil.
    public static func which(_ tool: String, environment: [String: String] = ProcessInfo.processInfo.environment) -> String? {
        for folder in (environment["PATH"] ?? "/usr/bin:/bin").split(separator: ":") {
            let path = "\(folder)/\(tool)"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    /// Runs `tool` with `arguments` (and `input` on its standard input).
    public func run(_ tool: String, _ arguments: [String], input: String? = nil) -> Output {
        guard let path = Self.which(tool) else { return Output(status: -1, stdout: "", stderr: "\(tool) is not on PATH") }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        let stdin = input.map { _ in Pipe() }
        process.standardInput = stdin ?? FileHandle.nullDevice
        let done = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in done.signal() }
        do { try process.run() } catch {
            return Output(status: -1, stdout: "", stderr: "cannot start \(tool): \(error.localizedDescription)")
        }
        if let stdin, let input {
            stdin.fileHandleForWriting.write(Data(input.utf8))
            try? stdin.fileHandleForWriting.close()
        }
        // Both pipes drain while the tool runs, so a chatty tool never blocks on a full pipe.
        let errorText = PipeReader(err.fileHandleForReading)
        let outputText = PipeReader(out.fileHandleForReading)
        if done.wait(timeout: .now() + timeout) == .timedOut {
            process.terminate()
            done.wait()
            return Output(status: -1, stdout: outputText.text(), stderr: "\(tool) did not answer within \(Int(timeout)) s")
        }
        return Output(status: process.terminationStatus, stdout: outputText.text(),
                      stderr: errorText.text().trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// Submits a batch script given on standard input; returns the job id.
    public func submit(script: String, arguments: [String]) throws(SlurmError) -> String {
        let result = run("sbatch", ["--parsable"] + arguments, input: script)
        // `--parsable` prints `ID` or `ID;CLUSTER`.
        let id = result.stdout.split(whereSeparator: \.isNewline).last.map { String($0.split(separator: ";")[0]) } ?? ""
        guard result.status == 0, !id.isEmpty, id.allSatisfy(\.isNumber) else {
            throw .submissionFailed(result.stderr.isEmpty ? "sbatch exited with \(result.status)" : result.stderr)
        }
        return id
    }

    /// This user's jobs whose name starts with `prefix`; nil when `squeue` failed (the controller
    /// did not answer), which is not the same as "none".
    public func queued(namePrefix prefix: String) -> [QueuedJob]? {
        let user = ProcessInfo.processInfo.environment["USER"] ?? NSUserName()
        let result = run("squeue", ["-h", "-u", user, "-o", "%i\t%j\t%T\t%k"])
        guard result.status == 0 else { return nil }
        return result.stdout.split(whereSeparator: \.isNewline).compactMap { line -> QueuedJob? in
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count >= 4, fields[1].hasPrefix(prefix) else { return nil }
            return QueuedJob(id: fields[0], name: fields[1], state: fields[2], comment: fields[3...].joined(separator: "\t"))
        }
    }

    /// How a job that left the queue ended (`COMPLETED`, `FAILED`, `CANCELLED`, `TIMEOUT`,
    /// `NODE_FAIL`, `OUT_OF_MEMORY`…): `scontrol` while the controller remembers it, else
    /// `sacct` when the cluster keeps accounting; nil when neither knows.
    public func finalState(of id: String) -> String? {
        let shown = run("scontrol", ["show", "job", "-o", id])
        if shown.status == 0, let range = shown.stdout.range(of: "JobState=") {
            let state = shown.stdout[range.upperBound...].prefix { !$0.isWhitespace }
            if !state.isEmpty { return String(state) }
        }
        let accounted = run("sacct", ["-n", "-X", "-P", "-j", id, "-o", "State"])
        if accounted.status == 0, let line = accounted.stdout.split(whereSeparator: \.isNewline).first {
            let state = line.split(separator: " ").first.map(String.init) ?? ""
            if !state.isEmpty { return state }
        }
        return nil
    }

    /// Cancels jobs (best effort; a job that already ended is not an error).
    public func cancel(_ ids: [String]) {
        guard !ids.isEmpty else { return }
        _ = run("scancel", ids)
    }

    /// The CPUs of the partition (or of every partition), from `sinfo`; nil if unknown.
    public func cpus(partition: String?) -> Int? {
        let result = run("sinfo", ["-h", "-o", "%C"] + (partition.map { ["-p", $0] } ?? []))
        guard result.status == 0 else { return nil }
        // `allocated/idle/other/total`, one line per partition.
        let totals = result.stdout.split(whereSeparator: \.isNewline).compactMap { $0.split(separator: "/").last.flatMap { Int($0) } }
        return totals.isEmpty ? nil : totals.reduce(0, +)
    }

    /// Why Shrink cannot use Slurm here, or nil: `sbatch` must be on `PATH` and the controller
    /// must answer `scontrol ping`.
    public func unavailability() -> String? {
        for tool in ["sbatch", "squeue", "scancel", "scontrol"] where Self.which(tool) == nil {
            return "\(tool) is not on PATH: --executor slurm needs the Slurm client tools (load the site's Slurm module, or install slurm-client)"
        }
        if let conf = ProcessInfo.processInfo.environment["SLURM_CONF"], !FileManager.default.fileExists(atPath: conf) {
            return "SLURM_CONF names \(conf), which does not exist"
        }
        let ping = run("scontrol", ["ping"])
        guard ping.status == 0, ping.stdout.contains("UP") else {
            let said = (ping.stdout + " " + ping.stderr).split(whereSeparator: \.isNewline).first { $0.contains("DOWN") || $0.contains("rror") }
            return "the Slurm controller does not answer (`scontrol ping`: \(said.map { $0.trimmingCharacters(in: .whitespaces) } ?? "exit \(ping.status)"))"
                + "; check SLURM_CONF and that slurmctld runs"
        }
        return nil
    }
}

/// Reads a pipe to its end on a Dispatch queue.
private final class PipeReader: Sendable {
    private let done = DispatchSemaphore(value: 0)
    private nonisolated(unsafe) var data = Data()

    init(_ handle: FileHandle) {
        DispatchQueue.global().async {
            self.data = handle.readDataToEndOfFile()
            self.done.signal()
        }
    }

    /// Waits for the end of the pipe and returns what came through.
    func text() -> String {
        done.wait()
        done.signal()
        return String(decoding: data, as: UTF8.self)
    }
}
