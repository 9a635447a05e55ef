import ArgumentParser

/// The `shrink` command line: one subcommand per job.
@main
struct Shrink: ParsableCommand {
    static let version = "0.1.0"

    static let configuration = CommandConfiguration(
        commandName: "shrink",
        abstract: "Compress neural networks for embedded devices by low-rank decomposition.",
        discussion: """
        Exit codes: 0 success, 1 the pipeline ran but the accuracy threshold could not be met,
        2 invalid input (pipeline, model, data), 3 internal error, 4 `status --check` found the lock out of date.
        """,
        version: version,
        subcommands: Shrink.allSubcommands
    )
}
