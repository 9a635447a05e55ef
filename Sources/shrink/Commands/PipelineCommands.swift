import ArgumentParser
import Foundation
import ShrinkBuild
import ShrinkPipeline
import ShrinkTensor
import ShrinkWorkflow

/// Options every pipeline command shares.
struct PipelineOptions: ParsableArguments {
    @Argument(help: "The pipeline file (pipelines/NAME.yaml).")
    var pipeline: String

    @Option(name: .long, help: "Cores to use: parallel stages and candidate evaluations, or one evaluation split over idle cores (default: all cores).")
    var jobs: Int = ProcessInfo.processInfo.activeProcessorCount

    @Option(name: .long, help: "Only this target: `main` or a variant's name.")
    var variant: String?

    var url: URL { URL(fileURLWithPath: pipeline) }

    func validate() throws {
        guard jobs >= 1 else { throw ValidationError("--jobs must be at least 1") }
    }
}

/// Maps engine errors to the documented exit codes. Diagnostics print as they are
/// (`file:line:col: error: message`); an interrupted run ends the process here.
func pipelineFailure(_ error: any Error) -> ExitCode {
    switch error {
    case let e as PipelineError:
        CLI.printError(e.printed)
        return ExitCode(CLI.exitCode(for: e))
    case let e as PipelineInterrupted: CLI.interrupted(e)
    case let e as ExitCode: return e
    default: return CLI.fail(String(describing: error))
    }
}

/// `shrink run`: run a pipeline (cached stages are reused).
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run", abstract: "Run a pipeline: decompose, search ranks, verify, export.",
        discussion: "Exit codes: 0 every target met its bound, 1 some target could not, 2 invalid input, 3 internal error, 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).")

    @OptionGroup var common: PipelineOptions

    @Flag(name: .long, help: "Continue independent stages after a failure.")
    var keepGoing = false

    @Flag(name: .long, help: "End with one JSON summary object on stdout.")
    var json = false

    @Option(name: .long, help: "Where stages run: `local` (this process), `process` (each stage in a fresh `shrink exec-stage` process) or `slurm` (Slurm jobs; docs/cluster.md); the search stays here. Default: `executor:` in shrink-config.yaml, else local.")
    var executor: ExecutorChoice?

    @OptionGroup var remote: RemoteCacheOptions

    func run() throws {
        let started = Date()
        let reporter = ProgressReporter()
        // Log lines go through the reporter, which clears its status line before printing them.
        var options = RunOptions(jobs: common.jobs, keepGoing: keepGoing, variant: common.variant,
                                 log: { reporter.warning($0) }, observer: reporter)
        // `shrink-config.yaml` is read once, for the executor and the team cache alike.
        let config: RepositoryConfig
        do { config = try CLI.repositoryConfig(root: PipelineRunner(file: common.url).root) } catch { throw pipelineFailure(error) }
        let setup = try ExecutorSetup(choice: executor, config: config, log: { reporter.warning($0) })
        options.executor = setup.executor
        do { options.remote = try remote.make(config: config, log: { reporter.warning($0) }) } catch {
            throw pipelineFailure(error)
        }
        let outcome: RunOutcome
        // Parallelism comes from job slots; OpenBLAS gets one thread (see PipelineRunner.run).
        BLAS.setThreads(1)
        do {
            outcome = try PipelineRunner(file: common.url, options: options).run()
            reporter.finish()
            setup.finish()
        } catch {
            reporter.finish()
            setup.finish()
            throw pipelineFailure(error)
        }
        let elapsed = Date().timeIntervalSince(started)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            var object = try JSONSerialization.jsonObject(with: try encoder.encode(outcome)) as? [String: Any] ?? [:]
            object["seconds"] = (elapsed * 1000).rounded() / 1000
            object["exit_code"] = Int(CLI.exitCode(for: outcome))
            print(String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self))
        } else {
            if outcome.executed == 0 {
                print("nothing to do: all \(outcome.cached) stages cached (\(String(format: "%.2f", elapsed)) s)")
            } else {
                print("\(outcome.executed) stages ran, \(outcome.cached) cached (\(String(format: "%.1f", elapsed)) s)")
                for (stage, why) in outcome.reasons.sorted(by: { $0.key < $1.key }) where !stage.hasPrefix("evaluate:") && !stage.hasPrefix("decompose:") || outcome.reasons.count < 12 {
                    print("  \(stage): \(why.joined(separator: "; "))")
                }
            }
            for t in outcome.targets {
                print(Self.verdictLine(t))
                for l in t.layers.keys.sorted() { print("  \(l): \(t.layers[l]!)") }
            }
            if let stats = outcome.remote { print(stats.summaryLine) }
        }
        if !outcome.allPassed { throw ExitCode(CLI.exitCode(for: outcome)) }
    }
}

extension RunCommand {
    /// `main: passed — metric 0.9830 → 0.9790, params 13.90× smaller, MACs 7.60× smaller`. A model
    /// that grew is never "passed": the line says it grew and by how much.
    static func verdictLine(_ t: TargetOutcome) -> String {
        let failed = t.overBudget.map { "FAILED (no configuration fits the \($0) budget)" } ?? "FAILED (bound not met)"
        let verdict = !t.passed ? failed : t.grew ? "bound met, but the model GREW" : "passed"
        func change(_ name: String, _ reduction: Double) -> String {
            reduction >= 1 ? String(format: "%@ %.2f× smaller", name, reduction)
                : String(format: "%@ %.2f× LARGER", name, 1 / max(reduction, 1e-12))
        }
        return "\(t.target): \(verdict) — metric \(String(format: "%.4f", t.baseline)) → \(String(format: "%.4f", t.metric)), "
            + "\(change("params", t.paramsReduction)), \(change("MACs", t.macsReduction))"
    }
}

/// `shrink plan`: what a run would do, and why.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "plan", abstract: "Show which stages are cached and which would run, and why.")

    @OptionGroup var common: PipelineOptions

    @Flag(name: .long, help: "Print JSON.")
    var json = false

    @OptionGroup var remote: RemoteCacheOptions

    func run() throws {
        let lines: [PipelineRunner.PlanLine]
        do {
            var options = RunOptions(jobs: common.jobs, variant: common.variant, log: { CLI.printError($0) })
            options.remote = try remote.make(repositoryRoot: PipelineRunner(file: common.url).root, log: { CLI.printError($0) })
            lines = try PipelineRunner(file: common.url, options: options).plan()
        } catch { throw pipelineFailure(error) }
        if json {
            let e = JSONEncoder()
            e.outputFormatting = [.sortedKeys]
            print(String(decoding: try e.encode(lines), as: UTF8.self))
            return
        }
        let running = lines.filter { $0.status != "cached" && $0.status != "remote" }.count
        let remoteServed = lines.filter { $0.status == "remote" }.count
        for l in lines {
            print("\(l.status == "cached" ? "cached " : l.status == "remote" ? "remote " : l.status == "run" ? "RUN    " : "BLOCKED") \(l.stage)\(l.reasons.isEmpty ? "" : " — " + l.reasons.joined(separator: "; "))")
        }
        print(running == 0 ? (remoteServed == 0 ? "nothing to do" : "nothing to compute: \(remoteServed) of \(lines.count) stages would come from the team cache")
              : "\(running) of \(lines.count) stages would run (search candidates are decided while it runs)"
                + (remoteServed > 0 ? "; \(remoteServed) would come from the team cache" : ""))
    }
}

/// `shrink graph`: the stage DAG.
struct GraphCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "graph", abstract: "Print the pipeline's stage graph.")

    @OptionGroup var common: PipelineOptions

    @Option(name: .long, help: "mermaid or dot.")
    var format: String = "mermaid"

    func validate() throws {
        guard ["mermaid", "dot"].contains(format) else { throw ValidationError("--format must be mermaid or dot") }
    }

    func run() throws {
        do {
            print(try PipelineRunner(file: common.url, options: RunOptions(jobs: common.jobs, variant: common.variant)).graph(format: format), terminator: "")
        } catch { throw pipelineFailure(error) }
    }
}

/// `shrink status`: is the lock file up to date?
struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Tell whether the pipeline's lock file is up to date.",
        discussion: "With --check, exit 4 when it is not (for CI).")

    @OptionGroup var common: PipelineOptions

    @Flag(name: .long, help: "Exit 4 when the lock file is out of date.")
    var check = false

    @OptionGroup var remote: RemoteCacheOptions

    func run() throws {
        let result: (upToDate: Bool, reasons: [String])
        do {
            var options = RunOptions(jobs: common.jobs, log: { CLI.printError($0) })
            options.remote = try remote.make(repositoryRoot: PipelineRunner(file: common.url).root, log: { CLI.printError($0) })
            result = try PipelineRunner(file: common.url, options: options).status()
        } catch { throw pipelineFailure(error) }
        if result.upToDate {
            print("up to date")
        } else {
            print("out of date:")
            for r in result.reasons { print("  \(r)") }
            if check { throw ExitCode(4) }
        }
    }
}
