import Foundation

/// A pipeline that cannot run, with the exit code the command line maps it to.
public enum PipelineError: Error, CustomStringConvertible, Sendable {
    /// Bad input: pipeline, model or data (exit 2).
    case invalidInput(String)
    /// A bug or an environment failure (exit 3).
    case internalError(String)

    /// The message.
    public var description: String {
        switch self {
        case .invalidInput(let m): return m
        case .internalError(let m): return "internal error: \(m)"
        }
    }

    /// The documented exit code.
    public var exitCode: Int32 {
        switch self {
        case .invalidInput: return 2
        case .internalError: return 3
        }
    }
}
