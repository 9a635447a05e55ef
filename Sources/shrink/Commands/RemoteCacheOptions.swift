import ArgumentParser
import Foundation
import ShrinkBuild
import ShrinkPipeline
import ShrinkWorkflow

/// The team-cache flags of `run`, `plan`, `status` and `cache push|pull`, and how they combine with
/// the environment and `shrink-config.yaml`: `--no-remote-cache` over `--remote-cache URL` over
/// `SHRINK_REMOTE_CACHE` over the file's `remote_cache.url`. Credentials come only from
/// `SHRINK_REMOTE_CACHE_TOKEN` or `~/.netrc`; the signing key from `SHRINK_CACHE_SIGNING_KEY`.
struct RemoteCacheOptions: ParsableArguments {
    @Option(name: .customLong("remote-cache"), help: ArgumentHelp(
        "The team cache's base URL (Bazel HTTP cache protocol: BASE/ac/<key>, BASE/cas/<digest>).",
        discussion: "Overrides SHRINK_REMOTE_CACHE and `remote_cache.url` in shrink-config.yaml.", valueName: "url"))
    var url: String?

    @Flag(name: .customLong("no-remote-cache"), help: "Use the local cache only, whatever the environment or shrink-config.yaml say.")
    var disabled = false

    @Flag(name: .customLong("remote-read-only"), help: "Download from the team cache but upload nothing (also SHRINK_REMOTE_CACHE_READ_ONLY=1).")
    var readOnly = false

    /// The remote cache for a repository, or nil when none is configured or it is turned off.
    /// Bad settings are invalid input (exit 2), named with where they came from.
    func make(repositoryRoot: URL, log: @escaping @Sendable (String) -> Void,
              environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RemoteCache? {
        if disabled { return nil }
        return try make(config: CLI.repositoryConfig(root: repositoryRoot), log: log, environment: environment)
    }

    /// The remote cache `config` (already read) and the flags and environment choose.
    func make(config: RepositoryConfig, log: @escaping @Sendable (String) -> Void,
              environment: [String: String] = ProcessInfo.processInfo.environment) throws -> RemoteCache? {
        if disabled { return nil }
        let settings = config.remoteCache
        let chosen: URL
        if let text = url {
            chosen = try Self.parse(text, source: "--remote-cache")
        } else if let text = environment["SHRINK_REMOTE_CACHE"], !text.isEmpty {
            chosen = try Self.parse(text, source: "SHRINK_REMOTE_CACHE")
        } else if let located = settings?.url {
            chosen = located.value
        } else {
            return nil
        }
        let readOnly = readOnly || ["1", "true", "yes"].contains(environment["SHRINK_REMOTE_CACHE_READ_ONLY"]?.lowercased() ?? "")
            || settings?.readOnly?.value == true
        var signingKey: Data?
        if let key = environment["SHRINK_CACHE_SIGNING_KEY"] {
            guard key.utf8.count >= 16 else {
                throw PipelineError.invalidInput("SHRINK_CACHE_SIGNING_KEY is shorter than 16 bytes; use a long random secret (e.g. `openssl rand -hex 32`)")
            }
            signingKey = Data(key.utf8)
        }
        let configuration = RemoteCacheConfiguration(
            url: chosen, readOnly: readOnly, timeout: settings?.timeout?.value ?? RemoteCacheConfiguration.defaultTimeout,
            credentials: RemoteCacheConfiguration.credentials(for: chosen, environment: environment), signingKey: signingKey)
        return RemoteCache(configuration: configuration, warn: log)
    }

    /// An http(s) URL without credentials in it (they would end up in shell history and logs).
    static func parse(_ text: String, source: String) throws -> URL {
        guard let url = URL(string: text), let scheme = url.scheme?.lowercased(), ["http", "https"].contains(scheme), url.host != nil else {
            throw PipelineError.invalidInput("\(source): `\(text)` is not an http:// or https:// URL")
        }
        guard url.user == nil, url.password == nil else {
            throw PipelineError.invalidInput("\(source): the URL must not contain credentials; set SHRINK_REMOTE_CACHE_TOKEN or use ~/.netrc")
        }
        return url
    }
}

extension RemoteCacheStats {
    /// `remote cache: 14 hits, 0 misses, 1.2 MiB down, 0 B up` (errors and refusals when there were any).
    var summaryLine: String {
        var parts = ["\(hits) \(hits == 1 ? "hit" : "hits")", "\(misses) \(misses == 1 ? "miss" : "misses")",
                     "\(Self.bytes(bytesDown)) down", "\(Self.bytes(bytesUp)) up"]
        if errors > 0 { parts.append("\(errors) \(errors == 1 ? "error" : "errors")") }
        if rejected > 0 { parts.append("\(rejected) rejected") }
        return "remote cache: " + parts.joined(separator: ", ")
    }

    static func bytes(_ n: Int64) -> String {
        if n < 1024 { return "\(n) B" }
        if n < 1024 * 1024 { return String(format: "%.1f KiB", Double(n) / 1024) }
        return String(format: "%.1f MiB", Double(n) / 1024 / 1024)
    }
}
