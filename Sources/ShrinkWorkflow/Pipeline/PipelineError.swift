import Foundation
import ShrinkBuild
import ShrinkPipeline

/// A pipeline that cannot run: bad input (with positions in pipeline files where known) or an
/// internal failure. The command line maps each case to its documented exit code.
public enum PipelineError: Error, CustomStringConvertible, Sendable {
    /// Bad input: pipeline, model or data (exit 2), with no position in a pipeline file.
    case invalidInput(String)
    /// Bad input found at positions in pipeline files (exit 2 when any is an error).
    case diagnostics([Diagnostic])
    /// A bug or an environment failure (exit 3).
    case internalError(String)

    /// One `error:` diagnostic at `location`.
    static func invalid(_ message: String, at location: SourceLocation, hint: String? = nil) -> PipelineError {
        .diagnostics([Diagnostic(.error, message, at: location, hint: hint)])
    }

    /// The message; diagnostics one per line as `file:line:col: severity: message`, paths
    /// relative to the current directory.
    public var description: String {
        switch self {
        case .invalidInput(let m): return m
        case .diagnostics(let d):
            return d.formatted(relativeTo: URL(fileURLWithPath: FileManager.default.currentDirectoryPath, isDirectory: true))
        case .internalError(let m): return "internal error: \(m)"
        }
    }

    /// What the command line prints: diagnostics as they are (they carry their severity), other
    /// messages after `error: `.
    public var printed: String {
        switch self {
        case .diagnostics: return description
        default: return "error: \(description)"
        }
    }
}

/// The run was interrupted (Ctrl-C, SIGTERM); what finished is in the cache.
public struct PipelineInterrupted: Error, CustomStringConvertible {
    /// The signal that interrupted the run (nil: cancelled in-process, treated as SIGINT).
    public var signal: Int32?

    /// An interruption by `signal`.
    public init(signal: Int32? = nil) { self.signal = signal }

    /// The exit status: 128 + signal (130 for SIGINT, 143 for SIGTERM).
    public var exitStatus: Int32 { InterruptWatcher.exitStatus(for: signal ?? SIGINT) }

    /// The message.
    public var description: String {
        "interrupted; everything finished so far is cached and the next run resumes from it"
    }
}
