import Foundation
import Testing
@testable import ShrinkBuild

struct DecomposeParameters: Encodable, Sendable { var method = "cp"; var rank = 16; var energy: Double? = nil }

@Suite struct StageKeyTests {
    let weights = Digest.of("weights")
    let other = Digest.of("other weights")

    func key(kind: String = "decompose", version: Int = 1, parameters: DecomposeParameters = .init(),
             inputs: [String: Digest]? = nil) throws -> (key: StageKey, components: KeyComponents) {
        try StageKey.derive(kind: kind, version: version, parameters: parameters, inputs: inputs ?? ["weights": weights])
    }

    @Test func sameComponentsSameKey() throws {
        #expect(try key().key == key().key)
    }

    @Test func everyComponentChangesTheKey() throws {
        let base = try key().key
        var rank8 = DecomposeParameters()
        rank8.rank = 8
        #expect(try key(kind: "svd").key != base)
        #expect(try key(version: 2).key != base)
        #expect(try key(parameters: rank8).key != base)
        #expect(try key(inputs: ["weights": other]).key != base)
        #expect(try key(inputs: ["w": weights]).key != base)  // input names matter too
    }

    @Test func explanationsNameWhatChanged() throws {
        var params = DecomposeParameters()
        params.rank = 8
        params.energy = 0.95
        let old = try key().components
        let new = try key(version: 2, parameters: params, inputs: ["weights": other]).components
        let changes = new.changes(since: old)
        #expect(changes == [
            .versionChanged(from: 1, to: 2),
            .inputChanged(name: "weights", from: weights, to: other),
            .parameterChanged(path: "energy", from: nil, to: "0.95"),
            .parameterChanged(path: "rank", from: "16", to: "8"),
        ])
        #expect(changes.map(\.description).contains("parameter `rank` changed: 16 → 8"))
        #expect(new.changes(since: nil) == [.firstRun])
        #expect(new.changes(since: new).isEmpty)
    }

    /// `plan` names the layer whose setting changed, not its position in a list (`searchable[0]`),
    /// and a layer added to the list is one change, not one per field or a shift of every index.
    @Test func explanationsNameLayersNotListPositions() throws {
        struct Searchable: Encodable { var layer: String; var method: String; var max: Int? }
        struct Select: Encodable { var searchable: [Searchable] }
        let old = try StageKey.derive(kind: "select", version: 1, parameters: Select(searchable: [
            Searchable(layer: "conv2", method: "tucker2", max: nil), Searchable(layer: "fc1", method: "svd", max: 8),
        ]), inputs: [:]).components
        let new = try StageKey.derive(kind: "select", version: 1, parameters: Select(searchable: [
            Searchable(layer: "conv1", method: "tucker2", max: nil), Searchable(layer: "conv2", method: "tucker2", max: 4),
            Searchable(layer: "fc1", method: "svd", max: 8),
        ]), inputs: [:]).components
        #expect(new.changes(since: old).map(\.description) == [
            "parameter `searchable[conv1]` added: layer=\"conv1\", method=\"tucker2\"",
            "parameter `searchable[conv2].max` added: 4",
        ])
    }
}
