import Foundation
import Yams

/// The settings a team checks in once per repository, `shrink-config.yaml` at the repository root:
/// where the team cache is and how stages reach a cluster. Pipelines say *what* to compute; this
/// file says *where*, so the same pipeline runs on a laptop, a CI runner and a Slurm cluster.
///
/// ```yaml
/// remote_cache:
///   url: https://cache.example.com/shrink   # BASE; blobs at BASE/cas/…, records at BASE/ac/…
///   read_only: false
///   timeout: 5                              # seconds per request
/// executor: slurm                           # local | process | slurm
/// slurm:
///   partition: cpu
///   account: ml
///   time: "01:00:00"
///   memory: 4G
///   sbatch_args: [--qos=normal]
///   max_jobs: 32
///   retries: 2
///   shared_directory: /scratch/shrink       # a store every node sees (default: the repository's .shrink/)
///   stages_per_job: 4                       # default: chosen from the measured job overhead
///   setup: ["module load openblas"]         # shell lines each job runs first
/// ```
/// Credentials never live here: the remote cache reads them from the environment or `~/.netrc`.
public struct RepositoryConfig: Sendable, Equatable {
    /// The file's name at the repository root.
    public static let fileName = "shrink-config.yaml"

    /// The team cache, if configured.
    public var remoteCache: RemoteCacheSettings?
    /// The executor `run` uses when `--executor` is not given.
    public var executor: Located<ExecutorKind>?
    /// Slurm settings for `executor: slurm` / `--executor slurm`.
    public var slurm: SlurmSettings?
    /// Where the settings were read (nil: no file).
    public var file: URL?

    /// No settings: everything local.
    public init(remoteCache: RemoteCacheSettings? = nil, executor: Located<ExecutorKind>? = nil,
                slurm: SlurmSettings? = nil, file: URL? = nil) {
        self.remoteCache = remoteCache
        self.executor = executor
        self.slurm = slurm
        self.file = file
    }

    /// Reads `shrink-config.yaml` under `repositoryRoot`; an empty configuration when there is none.
    /// Every problem in the file is reported at once, with file:line:col.
    public static func load(repositoryRoot: URL) throws(PipelineLoadError) -> RepositoryConfig {
        let url = repositoryRoot.appendingPathComponent(fileName)
        guard FileManager.default.fileExists(atPath: url.path) else { return RepositoryConfig() }
        let data: Data
        do { data = try Data(contentsOf: url) } catch {
            throw PipelineLoadError(diagnostics: [Diagnostic(.error, "cannot read \(fileName): \(error.localizedDescription)",
                                                             at: SourceLocation(file: url, line: 1, column: 1))])
        }
        return try parse(data, file: url)
    }

    /// Parses the text of a configuration file (`file` names it in diagnostics).
    public static func parse(_ data: Data, file: URL) throws(PipelineLoadError) -> RepositoryConfig {
        let sink = DiagnosticSink()
        var config = RepositoryConfig(file: file)
        guard let root = parseYAML(data, file: file, sink: sink) else {
            if sink.hasErrors { throw PipelineLoadError(diagnostics: sink.items) }
            return config  // an empty file
        }
        let decoder = FileDecoder(file: file, directory: file.deletingLastPathComponent(), vars: [:], sink: sink)
        if let fields = Fields(root, what: "the repository configuration", allowed: ConfigKeys.topLevel, file: file, sink: sink) {
            if let node = fields["remote_cache"] { config.remoteCache = decoder.remoteCache(node) }
            if let node = fields["executor"] { config.executor = decoder.enumeration(node, "`executor`", ExecutorKind.self) }
            if let node = fields["slurm"] { config.slurm = decoder.slurm(node) }
        }
        if sink.hasErrors { throw PipelineLoadError(diagnostics: sink.items) }
        return config
    }
}

/// The executors `run` knows: a closed set, named as `--executor` spells them.
public enum ExecutorKind: String, Sendable, Equatable, CaseIterable, Codable {
    /// Stages on Dispatch workers in the driver process.
    case local
    /// Each stage in a fresh `shrink exec-stage` process on this machine.
    case process
    /// Stages as Slurm jobs running `shrink exec-stage` on the cluster's nodes.
    case slurm
}

/// `remote_cache:` — a Bazel-HTTP-protocol cache shared by a team.
public struct RemoteCacheSettings: Sendable, Equatable {
    /// The base URL (`BASE/cas/<digest>`, `BASE/ac/<key>`); nil when the section only sets options.
    public var url: Located<URL>?
    /// Download only (pull-request jobs); nil: not set here.
    public var readOnly: Located<Bool>?
    /// Seconds one request may take before the remote is given up for the run; nil: the default.
    public var timeout: Located<Double>?

    /// Creates settings.
    public init(url: Located<URL>? = nil, readOnly: Located<Bool>? = nil, timeout: Located<Double>? = nil) {
        self.url = url
        self.readOnly = readOnly
        self.timeout = timeout
    }
}

/// `slurm:` — how `--executor slurm` submits jobs.
public struct SlurmSettings: Sendable, Equatable {
    /// `--partition`; nil: the cluster's default.
    public var partition: Located<String>?
    /// `--account`.
    public var account: Located<String>?
    /// `--time` as Slurm spells it (`MM`, `HH:MM:SS`, `D-HH`…).
    public var time: Located<String>?
    /// `--mem` as Slurm spells it (`4G`, `500M`).
    public var memory: Located<String>?
    /// Further `sbatch` arguments, passed as given.
    public var sbatchArguments: [Located<String>] = []
    /// At most this many jobs in flight.
    public var maxJobs: Located<Int>?
    /// Retries of a failed, cancelled, timed-out or lost job before the run fails.
    public var retries: Located<Int>?
    /// A store folder every node sees; nil: the repository's `.shrink/`.
    public var sharedDirectory: Located<URL>?
    /// Stages of one kind per job; nil: chosen per batch from the measured job overhead.
    public var stagesPerJob: Located<Int>?
    /// Shell lines each job runs before its stages (`module load …`).
    public var setup: [Located<String>] = []

    /// Creates settings.
    public init() {}
}

enum ConfigKeys {
    static let topLevel = ["remote_cache", "executor", "slurm"]
    static let remoteCache = ["url", "read_only", "timeout"]
    static let slurm = ["partition", "account", "time", "memory", "sbatch_args", "max_jobs", "retries", "shared_directory",
                        "stages_per_job", "setup"]
}

extension FileDecoder {
    func remoteCache(_ node: Node) -> RemoteCacheSettings? {
        guard let fields = Fields(node, what: "`remote_cache`", allowed: ConfigKeys.remoteCache, file: file, sink: sink) else { return nil }
        var settings = RemoteCacheSettings()
        if let node = fields["url"], let text = string(node, "`remote_cache.url`") {
            if let url = URL(string: text.value), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil {
                if url.user != nil || url.password != nil {
                    sink.error("`remote_cache.url` must not contain credentials", at: text.location,
                               hint: "set SHRINK_REMOTE_CACHE_TOKEN or use ~/.netrc; this file is checked in")
                } else {
                    settings.url = Located(url, at: text.location)
                }
            } else {
                sink.error("`remote_cache.url` must be an http:// or https:// URL, found `\(text.value)`", at: text.location)
            }
        }
        if let node = fields["read_only"] { settings.readOnly = boolean(node, "`remote_cache.read_only`") }
        if let node = fields["timeout"] { settings.timeout = number(node: node, "`remote_cache.timeout`", above: 0, atMost: 600) }
        return settings
    }

    func slurm(_ node: Node) -> SlurmSettings? {
        guard let fields = Fields(node, what: "`slurm`", allowed: ConfigKeys.slurm, file: file, sink: sink) else { return nil }
        var settings = SlurmSettings()
        if let node = fields["partition"] { settings.partition = string(node, "`slurm.partition`") }
        if let node = fields["account"] { settings.account = string(node, "`slurm.account`") }
        if let node = fields["time"] { settings.time = string(node, "`slurm.time`") }
        if let node = fields["memory"] { settings.memory = string(node, "`slurm.memory`") }
        if let node = fields["sbatch_args"] {
            if case .sequence(let items) = node {
                settings.sbatchArguments = items.compactMap { string($0, "an entry of `slurm.sbatch_args`") }
            } else {
                sink.error("`slurm.sbatch_args` must be a list of strings, found \(describe(node))", at: location(node))
            }
        }
        if let node = fields["max_jobs"] { settings.maxJobs = integer(node, "`slurm.max_jobs`", minimum: 1) }
        if let node = fields["retries"] { settings.retries = integer(node, "`slurm.retries`", minimum: 0) }
        if let node = fields["shared_directory"] { settings.sharedDirectory = path(node, "`slurm.shared_directory`", kind: nil) }
        if let node = fields["stages_per_job"] { settings.stagesPerJob = integer(node, "`slurm.stages_per_job`", minimum: 1) }
        if let node = fields["setup"] {
            if case .sequence(let items) = node {
                settings.setup = items.compactMap { string($0, "an entry of `slurm.setup`") }
            } else {
                sink.error("`slurm.setup` must be a list of shell lines, found \(describe(node))", at: location(node))
            }
        }
        return settings
    }
}
