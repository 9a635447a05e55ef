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
}
