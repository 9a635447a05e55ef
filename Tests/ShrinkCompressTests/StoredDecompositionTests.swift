import Foundation
import ShrinkTensor
import Testing
@testable import ShrinkCompress

/// The stored form of a decomposition (record as JSON, factors as named arrays) restores the
/// same stages, and refuses factors that do not fit the layer.
@Suite struct StoredDecompositionTests {
    static func layer() -> LayerDescriptor {
        var w = Tensor(zeros: [12, 20])
        for i in w.scalars.indices { w.scalars[i] = Float((i * 7919) % 101) / 101 - 0.5 }
        return .dense(name: "fc", weight: w, bias: Tensor(zeros: [12]))
    }

    @Test func aStoredDecompositionRestoresItsStages() throws {
        let layer = Self.layer()
        let d = try Decomposer.decompose(layer, method: .svd, rank: Rank(4))
        let stored = StoredDecomposition(d, fit: .weights, notes: ["from a test"])
        #expect(Set(stored.factors.keys) == ["stage0.weight", "stage1.weight", "stage1.bias"])
        // Through JSON, as the store keeps the record.
        let record = try JSONDecoder().decode(StoredDecomposition.Record.self, from: JSONEncoder().encode(stored.record))
        #expect(record == stored.record && record.method == .svd && record.rank == [4] && record.notes.first == "from a test")
        let restored = try #require(try StoredDecomposition(record: record, factors: stored.factors).restore(for: layer))
        #expect(restored.stages.map(\.weight) == d.stages.map(\.weight))
        #expect(restored.cost == d.cost && restored.rank == d.rank)
    }

    @Test func factorsOfTheWrongShapeAreRefused() throws {
        let layer = Self.layer()
        let stored = StoredDecomposition(try Decomposer.decompose(layer, method: .svd, rank: Rank(4)), fit: .weights)
        var record = stored.record
        record.rank = [5]
        #expect(throws: DecompositionError.self) { try StoredDecomposition(record: record, factors: stored.factors).restore(for: layer) }
        var missing = stored.factors
        missing.removeValue(forKey: "stage1.weight")
        #expect(throws: DecompositionError.self) { try StoredDecomposition(record: stored.record, factors: missing).restore(for: layer) }
    }
}
