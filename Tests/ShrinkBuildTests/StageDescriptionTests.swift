import Foundation
import Testing
@testable import ShrinkBuild

/// Stages as data: a stage's description is stored beside its key, hashes to it, and rebuilds the
/// stage in another process.
@Suite struct StageDescriptionTests {
    struct Params: Codable, Sendable, Hashable { var layer: String; var rank: [Int]; var scale: Double; var note: String? }

    /// A toy kind that can be rebuilt by key.
    struct Scale: DescribableStage {
        static let kindName = "scale"
        var kind: String { Self.kindName }
        var version: Int { 3 }
        let identity: String
        let parameters: Params
        let inputs: [String: StageInput]
        init(identity: String, parameters: Params, inputs: [String: StageInput]) {
            self.identity = identity; self.parameters = parameters; self.inputs = inputs
        }
        init(rebuilding d: StageDescription) throws {
            self.init(identity: d.identity, parameters: try d.decodeParameters(as: Params.self), inputs: d.blobInputs)
        }
        func run(_ context: StageContext) throws -> StageOutputs {
            let text = String(decoding: try context.data("x"), as: UTF8.self)
            return ["y": Data("\(text)×\(parameters.scale)".utf8)]
        }
    }

    @Test(arguments: [Params(layer: "conv1", rank: [6, 1], scale: 0.005, note: nil),
                      Params(layer: "a\"b\\c\n\u{1F600}", rank: [], scale: 1e-300, note: "ünï"),
                      Params(layer: "x", rank: [Int.max], scale: -.infinity, note: "")])
    func descriptionsRoundTripToTheSameKey(_ p: Params) throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-desc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Store(directory: dir)
        let x = try store.put(Data("input".utf8))
        let stage = Scale(identity: "scale:\(p.layer)", parameters: p, inputs: ["x": .blob(x)])
        let description = try StageDescription(stage, inputs: ["x": x])
        let (key, _) = try StageKey.derive(kind: "scale", version: 3, parameters: p, inputs: ["x": x])
        #expect(description.key == key)
        try store.putDescription(description)
        let read = try store.description(for: key)
        #expect(read == description)
        var registry = StageRegistry()
        registry.register(Scale.self)
        let rebuilt = try #require(try registry.stage(for: read) as? Scale)
        #expect(rebuilt.parameters == p)
        #expect(try StageDescription(rebuilt, inputs: ["x": x]).key == key)
    }

    @Test func runningByKeyPublishesWhatTheSchedulerWould() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-desc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Store(directory: dir)
        let x = try store.put(Data("2".utf8))
        var graph = StageGraph()
        try graph.add(Scale(identity: "s", parameters: Params(layer: "l", rank: [1], scale: 3, note: nil), inputs: ["x": .blob(x)]))
        let first = try Scheduler(store: store, options: SchedulerOptions(jobs: 1)).run(graph).results["s"]!
        var registry = StageRegistry()
        registry.register(Scale.self)
        let again = try StageByKey.run(first.key, store: store, registry: registry, force: true)
        #expect(again.status == .executed && again.outputs == first.outputs)

        // What it refuses: an unknown key, a kind this process does not know, a missing input.
        #expect(throws: StageDescriptionError.self) { try StageByKey.run(StageKey(Digest.of("nothing")), store: store, registry: registry) }
        #expect(throws: StageDescriptionError.self) { try StageByKey.run(first.key, store: store, registry: StageRegistry()) }
        try FileManager.default.removeItem(at: store.objectURL(for: x))
        #expect(throws: StageDescriptionError.self) { try StageByKey.run(first.key, store: store, registry: registry, force: true) }
    }

    @Test func aDescriptionEditedOnDiskIsRefused() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-desc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let store = try Store(directory: dir)
        let stage = Scale(identity: "s", parameters: Params(layer: "l", rank: [1], scale: 3, note: nil), inputs: [:])
        let d = try StageDescription(stage, inputs: [:])
        try store.putDescription(d)
        let url = store.descriptionURL(for: d.key)
        let edited = String(decoding: try Data(contentsOf: url), as: UTF8.self).replacingOccurrences(of: "3", with: "4")
        try Data(edited.utf8).write(to: url)
        #expect(throws: StageDescriptionError.self) { try store.description(for: d.key) }
    }
}
