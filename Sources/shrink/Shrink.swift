import ArgumentParser
import Foundation

/// The `shrink` command line: one subcommand per job.
@main
struct Shrink: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "shrink",
        abstract: "Compress neural networks for embedded devices by low-rank decomposition.",
        discussion: """
        Exit codes: 0 success; 1 the pipeline ran but the accuracy bound could not be met; \
        2 invalid input (pipeline, model, data, command-line usage); 3 internal error; \
        4 `status --check` found the lock file out of date; 130 interrupted by Ctrl-C, 143 by SIGTERM.
        """,
        version: version,
        subcommands: Shrink.allSubcommands
    )

    /// Parses and runs, mapping command-line usage errors to the documented exit code 2
    /// (ArgumentParser's own default is 64).
    static func main() {
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch {
            let code = exitCode(for: error)
            if code.rawValue == 64 {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(CLI.invalidInput)
            }
            exit(withError: error)
        }
    }
}
