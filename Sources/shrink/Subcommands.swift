import ArgumentParser

extension Shrink {
    /// Every subcommand, one per line so that parallel work merges cleanly.
    static let allSubcommands: [ParsableCommand.Type] = [
        RunCommand.self,
        PlanCommand.self,
        StatusCommand.self,
        GraphCommand.self,
        InspectCommand.self,
        DecomposeCommand.self,
        EvalCommand.self,
        InferCommand.self,
        CacheCommand.self,
        DemoCommand.self,
        DeviceCommand.self,
        ExecStageCommand.self,
    ]
}
