import ArgumentParser
import Foundation

/// Reporting failures from commands: one line on stderr, then the documented exit code
/// (2 invalid input, 3 internal error; see `Shrink.configuration`).
enum CLI {
    /// Exit code for invalid input (pipeline, model, data).
    static let invalidInput: Int32 = 2
    /// Exit code for internal errors.
    static let internalError: Int32 = 3

    /// Writes `text` and a newline to stderr.
    static func printError(_ text: String) {
        FileHandle.standardError.write(Data((text + "\n").utf8))
    }

    /// Prints `error: <message>` to stderr and returns the exit to throw:
    /// `throw CLI.fail("model.onnx: not a valid ONNX model (…)")`.
    static func fail(_ message: String, code: Int32 = invalidInput) -> ExitCode {
        printError("error: \(message)")
        return ExitCode(code)
    }

    /// `fail` with an error's description (`GraphError` and friends describe themselves for users).
    static func fail(_ error: any Error, code: Int32 = invalidInput) -> ExitCode {
        fail(String(describing: error), code: code)
    }
}
