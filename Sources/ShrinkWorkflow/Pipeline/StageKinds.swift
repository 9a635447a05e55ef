import Foundation
import ShrinkBuild
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor

/// What a running stage may use besides its parameters and inputs; not part of its key.
struct StageEnvironment: Sendable {
    /// The folder a `command` metric runs in (for a stage rebuilt by key: from its description).
    var checkout: URL?
    /// Progress lines (a search's steps).
    var log: @Sendable (String) -> Void
}

/// One kind of workflow stage: a name, a version, typed parameters and the computation, which
/// reads nothing but its parameters, its inputs (from the store) and its environment — so a stage
/// can be rebuilt from its stored description and run in another process.
protocol WorkflowStageKind: Sendable {
    /// Parameters: everything besides the input blobs that selects the outputs.
    associatedtype Parameters: Codable & Sendable
    /// The kind's name (`decompose`).
    static var name: String { get }
    /// Bump when outputs for the same inputs would change.
    static var version: Int { get }
    /// Whether stages of this kind run in the driving process (dynamic ones, see `Stage`).
    static var runsInDriver: Bool { get }
    /// The folder outside the store the stage reads, if any.
    static func checkout(of parameters: Parameters) -> URL?
    /// Computes the outputs.
    static func run(_ parameters: Parameters, context: StageContext, environment: StageEnvironment) throws -> StageOutputs
}

extension WorkflowStageKind {
    static var runsInDriver: Bool { false }
    static func checkout(of parameters: Parameters) -> URL? { nil }
}

/// A stage of kind `Kind`: a value (identity, typed parameters, declared inputs).
struct WorkflowStage<Kind: WorkflowStageKind>: DescribableStage {
    static var kindName: String { Kind.name }
    var kind: String { Kind.name }
    var version: Int { Kind.version }
    let identity: String
    let parameters: Kind.Parameters
    let inputs: [String: StageInput]
    let environment: StageEnvironment
    var checkout: URL? { environment.checkout }
    var runsInDriver: Bool { Kind.runsInDriver }

    init(identity: String, parameters: Kind.Parameters, inputs: [String: StageInput],
         log: @escaping @Sendable (String) -> Void = { _ in }) {
        self.identity = identity
        self.parameters = parameters
        self.inputs = inputs
        environment = StageEnvironment(checkout: Kind.checkout(of: parameters), log: log)
    }

    init(rebuilding description: StageDescription) throws {
        identity = description.identity
        parameters = try description.decodeParameters(as: Kind.Parameters.self)
        inputs = description.blobInputs
        let identity = description.identity
        environment = StageEnvironment(checkout: description.checkout.map { URL(fileURLWithPath: $0, isDirectory: true) },
                                       log: { FileHandle.standardError.write(Data("\(identity): \($0)\n".utf8)) })
    }

    func run(_ context: StageContext) throws -> StageOutputs {
        try Kind.run(parameters, context: context, environment: environment)
    }
}

/// The workflow's stage kinds, for running stages by key (`shrink exec-stage`).
public enum WorkflowStages {
    /// Every kind a pipeline run creates.
    public static let registry: StageRegistry = {
        var r = StageRegistry()
        r.register(WorkflowStage<LoadStage>.self)
        r.register(WorkflowStage<CalibrateStage>.self)
        r.register(WorkflowStage<DecomposeStage>.self)
        r.register(WorkflowStage<EvaluateStage>.self)
        r.register(WorkflowStage<SelectStage>.self)
        r.register(WorkflowStage<RefitStage>.self)
        r.register(WorkflowStage<ExportStage>.self)
        r.register(WorkflowStage<ReportStage>.self)
        r.register(WorkflowStage<QuantizeStage>.self)
        r.register(WorkflowStage<DeviceCheckStage>.self)
        return r
    }()
}

/// Reads the model; the evaluation data (the parameters) fixes input dimensions the model leaves
/// symbolic besides the batch. Outputs `model` (with those fixed; what every later stage reads),
/// `original` (as given; what the export keeps the interface of) and `summary`.
enum LoadStage: WorkflowStageKind {
    static var name: String { "load" }
    static var version: Int { StageVersion.load }

    static func run(_ data: DataRef, context ctx: StageContext, environment: StageEnvironment) throws -> StageOutputs {
        let digest = try ctx.digest(of: "model")
        var graph = try ArtifactMemo.shared.graph(digest, store: ctx.store)
        var modelDigest = digest
        var note: String?
        // A model with several inputs is costed and run only with all of them: say at once when
        // the data lacks one, rather than leave its layers without shapes.
        if graph.dataInputs.count > 1 {
            let d = try data.attributing { try ArtifactMemo.shared.dataset(data, store: ctx.store) }
            try data.attributing { try d.requireSideInputs(graph.dataInputs.dropFirst().map(\.name), primary: graph.dataInputs[0].name) }
        }
        // Symbolic dimensions other than the batch (further inputs hold theirs on any axis).
        let symbolic = graph.dataInputs.count > 1 || (graph.dataInputs.first?.shape?.dropFirst().contains { $0.fixed == nil } ?? false)
        if symbolic, let d = try? ArtifactMemo.shared.dataset(data, store: ctx.store),
           let (pinned, text) = LayerWork.pinningSymbolicInputs(graph, data: d) {
            let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-\(UUID().uuidString).onnx")
            try pinned.save(to: tmp.path)
            defer { try? FileManager.default.removeItem(at: tmp) }
            modelDigest = try ctx.putFile(at: tmp)
            graph = pinned
            note = text
        }
        // `If`s whose condition the data's shape decides (exporters branch on the input size) are
        // replaced by the branch taken, so the layers inside are costed and compressed.
        if graph.nodes.contains(where: { $0.opType == "If" }), !graph.dataInputs.isEmpty,
           let d = try? ArtifactMemo.shared.dataset(data, store: ctx.store),
           let facts = try? graph.inputFacts(LayerWork.sampleArrays(graph, data: d)),
           let inlined = try? graph.inliningConstantBranches(inputShapes: facts.shapes, inputValues: facts.values),
           inlined.nodes.count(where: { $0.opType == "If" }) < graph.nodes.count(where: { $0.opType == "If" }) {
            let tmp = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-\(UUID().uuidString).onnx")
            try inlined.save(to: tmp.path)
            defer { try? FileManager.default.removeItem(at: tmp) }
            modelDigest = try ctx.putFile(at: tmp)
            graph = inlined
            note = [note, "model has `If` nodes that the evaluation data's shape decides; Shrink compresses the branches it takes, and the exported model computes only those"]
                .compactMap { $0 }.joined(separator: "; ")
        }
        var summary = try LayerWork.summarize(graph)
        summary.pinnedInput = note
        do {
            _ = try Session(graph: graph, options: SessionOptions(threads: 1))
        } catch {
            // Only targets that need the engine fail (addTarget): an external evaluator
            // scores models whose ops Shrink cannot run.
            summary.engineError = "\(error)"
        }
        var out: StageOutputs = ["summary": try LayerWork.jsonEncoder.encode(summary)]
        out["model"] = .blob(modelDigest)
        out["original"] = .blob(digest)
        return out
    }
}

/// Parameters of a calibrate stage: the layers whose input statistics to gather, and the data.
struct CalibrateParameters: Codable, Sendable {
    var layers: [String]
    var data: DataRef
}

/// Activation statistics of the layers fitted to data (`fit: activations`), from the calibration set.
enum CalibrateStage: WorkflowStageKind {
    static var name: String { "calibrate" }
    static var version: Int { StageVersion.calibrate }

    static func run(_ p: CalibrateParameters, context ctx: StageContext, environment: StageEnvironment) throws -> StageOutputs {
        let g = try ArtifactMemo.shared.graph(try ctx.digest(of: "model"), store: ctx.store)
        let data = try ArtifactMemo.shared.dataset(p.data, store: ctx.store)
        let arrays = try ctx.withIdleCores { cores in
            try p.data.attributing { try LayerWork.calibrate(g, layers: p.layers, data: data, threads: cores) }
        }
        return ["stats": try NPZ.encode(arrays)]
    }
}
