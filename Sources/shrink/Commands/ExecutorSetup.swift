import ArgumentParser
import Foundation
import ShrinkBuild
import ShrinkPipeline

/// The executor a run uses — `--executor`, else the repository configuration's `executor:`, else
/// `local` — and what must happen when the run ends: a Slurm executor cancels the jobs still in
/// flight (an interrupted run, adopted jobs nobody needed), so a driver leaves nothing behind.
struct ExecutorSetup {
    /// The executor for `RunOptions.executor`.
    let executor: any Executor
    private let slurm: SlurmExecutor?

    /// Builds the executor `choice` names, else the one the repository's `shrink-config.yaml`
    /// (already read as `config`) names, else `local`.
    init(choice: ExecutorChoice?, config: RepositoryConfig, log: @escaping @Sendable (String) -> Void) throws {
        let chosen = choice ?? config.executor.flatMap { ExecutorChoice(rawValue: $0.value.rawValue) } ?? .local
        executor = try chosen.make(slurm: config.slurm, log: log)
        slurm = executor as? SlurmExecutor
    }

    /// Ends the run's use of the executor: cancels jobs still in flight and says what ran where.
    func finish() {
        guard let slurm else { return }
        let cancelled = slurm.shutdown()
        if !cancelled.isEmpty {
            CLI.printError("slurm: cancelled \(cancelled.count) job(s): \(cancelled.joined(separator: ", "))")
        }
        let s = slurm.statistics
        if s.jobs > 0 {
            CLI.printError("slurm: \(s.stages) stage(s) in \(s.jobs) job(s), \(s.rounds) submission round(s); "
                + String(format: "per-job overhead ≈ %.2f s", s.overhead))
        }
    }

    /// A Slurm executor with the configured settings, after checking that Slurm is usable here:
    /// no client tools or no controller is exit 2 with one message.
    static func slurm(_ settings: SlurmSettings?, log: @escaping @Sendable (String) -> Void) throws -> SlurmExecutor {
        let commands = SlurmCommands(timeout: 30)
        if let problem = SlurmCommands(timeout: 15).unavailability() {
            throw CLI.fail("--executor slurm: \(problem)")
        }
        var options = SlurmOptions(command: [try CLI.executablePath(), "exec-stage"])
        if let s = settings {
            options.partition = s.partition?.value
            options.account = s.account?.value
            options.time = s.time?.value
            options.memory = s.memory?.value
            options.extraArguments = s.sbatchArguments.map(\.value)
            options.setup = s.setup.map(\.value)
            if let n = s.maxJobs?.value { options.maxJobs = n }
            if let n = s.retries?.value { options.retries = n }
            options.stagesPerJob = s.stagesPerJob?.value
            options.sharedDirectory = s.sharedDirectory?.value
        }
        return SlurmExecutor(options: options, commands: commands, log: log)
    }
}
