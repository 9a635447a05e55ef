import ArgumentParser

extension Shrink {
    /// Every subcommand, one per line so that parallel work merges cleanly.
    static let allSubcommands: [ParsableCommand.Type] = [
        DemoCommand.self,
        InspectCommand.self,
        DecomposeCommand.self,
        CacheCommand.self,
    ]
}
