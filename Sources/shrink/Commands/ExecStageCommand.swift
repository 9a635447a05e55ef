import ArgumentParser
import Foundation
import ShrinkBuild
import ShrinkPipeline
import ShrinkTensor
import ShrinkWorkflow

/// `--executor local|process|slurm`.
enum ExecutorChoice: String, ExpressibleByArgument, CaseIterable {
    case local, process, slurm

    /// The executor: in this process, one `shrink exec-stage` process per stage, or Slurm jobs
    /// (with the repository configuration's `slurm:` settings, see `ExecutorSetup`).
    func make(slurm settings: SlurmSettings? = nil, log: @escaping @Sendable (String) -> Void = { _ in }) throws -> any Executor {
        switch self {
        case .local: return InProcessExecutor()
        case .process: return SubprocessExecutor(command: [try CLI.executablePath(), "exec-stage"])
        case .slurm: return try ExecutorSetup.slurm(settings, log: log)
        }
    }
}

/// `shrink exec-stage KEY [--root DIR]` (hidden): runs one stage from the store alone, as a driver's
/// subprocess or a cluster job would, and publishes its outputs exactly as the scheduler does.
struct ExecStageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "exec-stage", abstract: "Run one cached stage by its key (for executors).",
        discussion: "Exit codes: 0 done (or already cached), 2 unknown key, unknown kind, missing inputs or checkout, 3 the stage failed or an internal error.",
        shouldDisplay: false)

    @Argument(help: "The stage key (64 hexadecimal digits).")
    var key: String

    @Option(help: "Repository root holding .shrink/cache (default: the nearest folder above the working directory with .git).")
    var root: String?

    @Flag(help: "Do not take the key's lock (the driver that started this process holds it).")
    var noLock = false

    @Flag(help: "Recompute even if the stage is cached.")
    var force = false

    func run() throws {
        guard let digest = Digest(hex: key) else { throw CLI.fail("\(key): not a stage key (64 hexadecimal digits)") }
        let rootURL = root.map { URL(fileURLWithPath: $0, isDirectory: true) } ?? RepositoryRoot.find()
        let cache = rootURL.appendingPathComponent(".shrink/cache", isDirectory: true)
        guard FileManager.default.fileExists(atPath: cache.path) else { throw CLI.fail("no cache at \(cache.path)") }
        // One stage, one core: the driver runs as many of these as it has job slots.
        BLAS.setThreads(1)
        let store = try Store(directory: cache)
        do {
            _ = try StageByKey.run(StageKey(digest), store: store, registry: WorkflowStages.registry, force: force, lockKey: !noLock)
        } catch let e as StageDescriptionError {
            throw CLI.fail("\(e)")
        } catch {
            // Classified as `shrink run` would (bad data exits 2, an internal failure 3), so the
            // driver reports the stage's refusal as invalid input and does not retry it.
            let e = PipelineRunner.classify(error, identity: "")
            CLI.printError(e.printed)
            throw ExitCode(CLI.exitCode(for: e))
        }
    }
}
