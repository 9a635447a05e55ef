import ArgumentParser
import Foundation
import ShrinkBuild
import ShrinkWorkflow

extension CacheCommand {
    /// `shrink cache push PIPELINE`: publish this checkout's results of a pipeline to the team cache.
    struct Push: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "push", abstract: "Upload a pipeline's cached stage results to the team cache.",
            discussion: "Runs nothing: stages not cached here are listed as skipped. Exit 3 if the cache could not take everything.")

        @Argument(help: "The pipeline file (pipelines/NAME.yaml).")
        var pipeline: String

        @OptionGroup var remote: RemoteCacheOptions

        func run() throws {
            let outcome = try remote.transfer(pipeline) { try $0.push() }
            print("pushed \(outcome.stages) stages" + (outcome.skipped.isEmpty ? "" : "; not pushed: \(outcome.skipped.sorted().joined(separator: ", "))"))
            print(outcome.remote.summaryLine)
            if outcome.remote.errors > 0 { throw ExitCode(CLI.internalError) }
        }
    }

    /// `shrink cache pull PIPELINE`: prefill the local cache from the team cache.
    struct Pull: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "pull", abstract: "Download a pipeline's stage results from the team cache into the local one.",
            discussion: "Computes nothing: stages the team cache does not have are listed; `shrink run` computes them.")

        @Argument(help: "The pipeline file (pipelines/NAME.yaml).")
        var pipeline: String

        @OptionGroup var remote: RemoteCacheOptions

        func run() throws {
            let outcome = try remote.transfer(pipeline) { try $0.pull() }
            print("pulled \(outcome.stages) stages" + (outcome.skipped.isEmpty ? "" : "; not in the team cache: \(outcome.skipped.sorted().joined(separator: ", "))"))
            print(outcome.remote.summaryLine)
        }
    }
}

extension RemoteCacheOptions {
    /// Runs `move` (push or pull) on the pipeline at `pipeline` with this command's remote; a
    /// problem with the pipeline or the settings becomes the CLI's error.
    func transfer(_ pipeline: String, _ move: (PipelineRunner) throws -> PipelineRunner.TransferOutcome) throws -> PipelineRunner.TransferOutcome {
        do {
            let file = URL(fileURLWithPath: pipeline)
            var options = RunOptions(jobs: 1, log: { CLI.printError($0) })
            options.remote = try make(repositoryRoot: PipelineRunner(file: file).root, log: { CLI.printError($0) })
            return try move(PipelineRunner(file: file, options: options))
        } catch { throw pipelineFailure(error) }
    }
}
