import Foundation

/// What a run would do with one stage, found without running anything (for `shrink plan`).
public struct PlannedStage: Sendable {
    /// The verdict for a stage.
    public enum Status: Sendable {
        /// Its key is in the cache with intact outputs.
        case cached(StageKey)
        /// The team cache holds a trusted record for its key: a run downloads instead of computing.
        case remote(StageKey)
        /// It will run, for these reasons.
        case willRun([KeyChange])
        /// Its inputs cannot be resolved (a missing file, a missing blob).
        case unavailable(String)
    }

    /// The stage identity.
    public let identity: String
    /// The stage kind.
    public let kind: String
    /// The verdict.
    public let status: Status
}

extension Scheduler {
    /// Predicts a run: for each stage in topological order, whether it is cached or will run and
    /// why. Files are hashed but nothing is written. A stage below one that will run is reported
    /// as running because its inputs are not known yet — though if the upstream stage reproduces
    /// its old outputs, the real run will find it cached.
    public func plan(_ graph: StageGraph) throws -> [PlannedStage] {
        var outputs = [String: [String: Digest]]()
        var planned = [PlannedStage]()
        for identity in try graph.topologicalOrder() {
            guard let stage = graph.stage(identity) else { continue }
            let status = try planStage(stage, outputs: outputs)
            switch status {
            case .cached(let key):
                if let record = store.record(for: key) { outputs[identity] = record.outputDigests }
            case .remote(let key):
                if let record = store.remote?.knownRecord(key) { outputs[identity] = record.outputDigests }
            case .willRun, .unavailable:
                break
            }
            planned.append(PlannedStage(identity: identity, kind: stage.kind, status: status))
        }
        return planned
    }

    private func planStage(_ stage: some Stage, outputs: [String: [String: Digest]]) throws -> PlannedStage.Status {
        var inputs = [String: Digest]()
        var pending = [String]()
        var pendingInputs = Set<String>()
        for (name, input) in stage.inputs.sorted(by: { $0.key < $1.key }) {
            switch input {
            case .output(let upstream, let output):
                guard let produced = outputs[upstream] else {
                    if !pending.contains(upstream) { pending.append(upstream) }
                    pendingInputs.insert(name)
                    continue
                }
                guard let digest = produced[output] else {
                    return .unavailable("\(upstream) has no output named `\(output)`")
                }
                inputs[name] = digest
            case .file(let url):
                guard let digest = try? Digest.ofFile(at: url) else {
                    return .unavailable("input `\(name)`: cannot read \(url.path)")
                }
                inputs[name] = digest
            case .blob(let digest):
                // A blob a remote record vouches for counts: planning downloads nothing.
                guard store.checkBlob(digest) == .present || store.remote?.vouches(for: digest) == true else {
                    return .unavailable("input `\(name)`: object \(digest.short)… is not in the cache")
                }
                inputs[name] = digest
            }
        }
        let previous = store.lastEntry(forIdentity: stage.identity)?.components
        let (key, components) = try StageKey.derive(
            kind: stage.kind, version: stage.version, parameters: stage.parameters, inputs: inputs)
        if !pending.isEmpty {
            // Inputs from stages that will run are unknown; everything else can still be compared.
            let known = components.changes(since: previous).filter {
                if case .inputChanged(let name, _, _) = $0 { return !pendingInputs.contains(name) }
                return true
            }
            return .willRun(pending.map { KeyChange.upstreamWillRun($0) } + known)
        }
        if store.lookup(key, markUsed: false) != nil { return .cached(key) }
        if store.remote?.lookup(key) != nil { return .remote(key) }
        let reasons = components.changes(since: previous)
        return .willRun(reasons.isEmpty ? [.outputsMissing] : reasons)
    }
}
