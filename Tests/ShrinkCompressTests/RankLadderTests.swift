import ShrinkTensor
import Testing
@testable import ShrinkCompress

/// The ladder of candidate ranks a search walks: dense at the bottom, geometric above, never a
/// rank at which the layer stops saving what the search minimises.
@Suite struct RankLadderTests {
    static let fc = LayerDescriptor.dense(name: "fc1", weight: Tensor(zeros: [500, 800]), bias: Tensor(zeros: [500]))

    @Test(arguments: [CostObjective.params, .macs])
    func everyOptionSavesAndTheyAscend(objective: CostObjective) throws {
        let options = try RankLadder.options(method: .svd, layer: Self.fc, objective: objective)
        let ranks = options.map { $0.rank[0] }
        #expect(Array(ranks.prefix(8)) == Array(1...8))
        #expect(ranks == ranks.sorted() && Set(ranks).count == ranks.count)
        #expect(options.allSatisfy { $0.cost[objective] < Self.fc.cost[objective] })
        // The last option is the largest rank below break-even (500·800 / (500 + 800) ≈ 307.7).
        let last = try #require(ranks.last)
        #expect(last <= 307 && last > 250)
    }

    @Test func aRangeBoundsStepsAndRounds() throws {
        let stepped = try RankLadder.options(method: .svd, layer: Self.fc, objective: .params,
                                             range: RankLadder.Range(min: 10, max: 50, step: 10))
        #expect(stepped.map { $0.rank[0] } == [10, 20, 30, 40, 50])
        let rounded = try RankLadder.options(method: .svd, layer: Self.fc, objective: .params, range: RankLadder.Range(max: 40, multipleOf: 16))
        #expect(rounded.map { $0.rank[0] } == [16, 32, 48])
    }

    @Test func aMethodThatDoesNotApplyThrows() {
        #expect(throws: DecompositionError.self) { try RankLadder.options(method: .tucker2, layer: Self.fc, objective: .params) }
    }
}
