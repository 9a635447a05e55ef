/// A DAG of stages keyed by identity. Edges come from `.output(of:named:)` inputs plus any extra
/// ordering given to `add(_:after:)`.
public struct StageGraph: Sendable {
    struct Node: Sendable {
        let stage: any Stage
        let dependencies: [String]
    }

    private(set) var nodes: [String: Node] = [:]
    /// Identities in insertion order; ties in scheduling are broken by it, so `--jobs 1` runs are
    /// reproducible step by step.
    public private(set) var identities: [String] = []

    /// An empty graph.
    public init() {}

    /// Adds a stage. `after` names stages that must finish first although no input comes from them.
    public mutating func add(_ stage: some Stage, after: [String] = []) throws {
        let identity = stage.identity
        guard nodes[identity] == nil else { throw GraphError.duplicateIdentity(identity) }
        var dependencies = [String]()
        for name in stage.inputs.keys.sorted() {
            if let upstream = stage.inputs[name]?.upstream, !dependencies.contains(upstream) {
                dependencies.append(upstream)
            }
        }
        for extra in after where !dependencies.contains(extra) { dependencies.append(extra) }
        nodes[identity] = Node(stage: stage, dependencies: dependencies)
        identities.append(identity)
    }

    /// Number of stages.
    public var count: Int { identities.count }

    /// The stage with this identity.
    public func stage(_ identity: String) -> (any Stage)? { nodes[identity]?.stage }

    /// The identities a stage waits for.
    public func dependencies(of identity: String) -> [String] { nodes[identity]?.dependencies ?? [] }

    /// Checks that every dependency exists and there is no cycle; returns the stages in a
    /// topological order (insertion order among stages that are ready together).
    @discardableResult
    public func topologicalOrder() throws -> [String] {
        var remaining = [String: Int]()
        var dependents = [String: [String]]()
        for identity in identities {
            guard let node = nodes[identity] else { continue }
            for dependency in node.dependencies {
                guard nodes[dependency] != nil else {
                    throw GraphError.unknownDependency(stage: identity, dependency: dependency)
                }
                dependents[dependency, default: []].append(identity)
            }
            remaining[identity] = node.dependencies.count
        }
        let position = Dictionary(uniqueKeysWithValues: identities.enumerated().map { ($1, $0) })
        var ready = identities.filter { remaining[$0] == 0 }
        var order = [String]()
        while !ready.isEmpty {
            let next = ready.removeFirst()
            order.append(next)
            for dependent in dependents[next] ?? [] {
                remaining[dependent, default: 0] -= 1
                if remaining[dependent] == 0 {
                    let index = ready.firstIndex { (position[$0] ?? 0) > (position[dependent] ?? 0) } ?? ready.endIndex
                    ready.insert(dependent, at: index)
                }
            }
        }
        guard order.count == identities.count else {
            throw GraphError.cycle(identities.filter { (remaining[$0] ?? 0) > 0 })
        }
        return order
    }

    /// Every stage that depends on `identity`, directly or not.
    func transitiveDependents(of identity: String) -> Set<String> {
        var dependents = [String: [String]]()
        for (id, node) in nodes {
            for dependency in node.dependencies { dependents[dependency, default: []].append(id) }
        }
        var seen = Set<String>()
        var stack = [identity]
        while let next = stack.popLast() {
            for dependent in dependents[next] ?? [] where seen.insert(dependent).inserted { stack.append(dependent) }
        }
        return seen
    }
}

/// A graph that cannot be scheduled.
public enum GraphError: Error, Equatable, CustomStringConvertible {
    /// Two stages share an identity.
    case duplicateIdentity(String)
    /// A stage depends on an identity the graph does not contain.
    case unknownDependency(stage: String, dependency: String)
    /// These stages form or sit behind a cycle.
    case cycle([String])

    /// A one-line explanation.
    public var description: String {
        switch self {
        case .duplicateIdentity(let id): return "two stages are named \(id)"
        case .unknownDependency(let stage, let dependency): return "\(stage) depends on \(dependency), which is not a stage"
        case .cycle(let ids): return "stages depend on each other in a cycle: \(ids.joined(separator: ", "))"
        }
    }
}
