import Foundation
import ShrinkBuild

extension PipelineRunner {
    /// What `cache push` or `cache pull` moved.
    public struct TransferOutcome: Sendable, Codable {
        /// Stages transferred.
        public var stages: Int
        /// Stages that could not be (not computed here for push; missing, refused or unreachable for pull).
        public var skipped: [String]
        /// The remote's counters.
        public var remote: RemoteCacheStats
    }

    /// `shrink cache push PIPELINE`: uploads the pipeline's stage results this checkout holds
    /// (every stage of the plan that is cached locally), blobs first, records signed when a signing
    /// key is set. Candidate evaluations are uploaded by the runs that compute them.
    public func push() throws -> TransferOutcome {
        guard let remote = options.remote else { throw PipelineError.invalidInput("no remote cache is configured; give --remote-cache URL, set SHRINK_REMOTE_CACHE or add `remote_cache:` to shrink-config.yaml") }
        if remote.configuration.readOnly { throw PipelineError.invalidInput("the remote cache is read-only here (--remote-read-only, SHRINK_REMOTE_CACHE_READ_ONLY or `read_only: true`); nothing to push") }
        // Planned against the local store alone: push sends what this checkout has.
        let local = try Store(repositoryRoot: root, warn: options.log)
        let resolved: Resolved
        do { resolved = try resolve(store: local, execute: false) } catch is PlanIncomplete {
            throw PipelineError.invalidInput("nothing to push: run `shrink run \(relativePath(file, from: root))` first")
        }
        var keys = [(resolved.loadIdentity, resolved.loadKey)]
        var skipped: [String] = []
        for p in try Scheduler(store: local, options: SchedulerOptions(jobs: 1)).plan(resolved.graph) {
            if case .cached(let key) = p.status { keys.append((p.identity, key)) } else { skipped.append(p.identity) }
        }
        var pushed = 0
        for (identity, key) in keys {
            guard let record = local.lookup(key, markUsed: false), let description = try? local.description(for: key),
                  remote.uploadNow(record, description: description, from: local)
            else {
                skipped.append(identity)
                continue
            }
            pushed += 1
        }
        // What a selection names (each chosen layer's decomposition, computed as a candidate
        // behind the search) is read by every run that takes the selection: send it too.
        for t in resolved.targets {
            guard let key = keys.first(where: { $0.0 == t.select })?.1, let record = local.record(for: key),
                  let digest = record.outputs["selection"]?.digest,
                  let selection = try? JSONDecoder().decode(Selection.self, from: try local.read(digest)) else { continue }
            for r in selection.decompositions {
                if !remote.uploadBlobNow(r.info, from: local) || !remote.uploadBlobNow(r.factors, from: local) { skipped.append(t.select) }
            }
        }
        return TransferOutcome(stages: pushed, skipped: skipped, remote: remote.stats)
    }

    /// `shrink cache pull PIPELINE`: downloads the pipeline's stage results the team cache holds
    /// into the local store (top-down: the plan's stages, not the candidates behind a search), so a
    /// later run — even offline — finds them here.
    public func pull() throws -> TransferOutcome {
        guard let remote = options.remote else { throw PipelineError.invalidInput("no remote cache is configured; give --remote-cache URL, set SHRINK_REMOTE_CACHE or add `remote_cache:` to shrink-config.yaml") }
        let store = try openStore()
        let resolved: Resolved
        do { resolved = try resolve(store: store, execute: false) } catch is PlanIncomplete {
            return TransferOutcome(stages: 0, skipped: ["load: the team cache does not have it"], remote: remote.stats)
        }
        var pulled = 0, skipped: [String] = []
        if store.lookup(resolved.loadKey, markUsed: false) == nil {
            if remote.materialize(resolved.loadKey, into: store) { pulled += 1 } else { skipped.append(resolved.loadIdentity) }
        }
        var keys: [String: StageKey] = [:]
        for p in try Scheduler(store: store, options: SchedulerOptions(jobs: 1)).plan(resolved.graph) {
            switch p.status {
            case .cached(let key): keys[p.identity] = key
            case .remote(let key):
                if remote.materialize(key, into: store) {
                    pulled += 1
                    keys[p.identity] = key
                } else {
                    skipped.append(p.identity)
                }
            case .willRun, .unavailable: skipped.append(p.identity)
            }
        }
        // A run also reads what a selection names (each chosen layer's decomposition record),
        // which belongs to candidates behind the search: fetch those few blobs too.
        for t in resolved.targets {
            guard let key = keys[t.select], let record = store.record(for: key) else { continue }
            let select = StageResult(identity: t.select, kind: "select", key: key, outputs: record.outputDigests, status: .cached,
                                     reasons: [], elapsed: 0)
            if (try? decided(select, store: store)) == nil { skipped.append(t.select) }
        }
        return TransferOutcome(stages: pulled, skipped: skipped, remote: remote.stats)
    }
}
