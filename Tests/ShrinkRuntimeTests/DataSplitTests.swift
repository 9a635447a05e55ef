@testable import ShrinkRuntime
import ShrinkTensor
import Testing

/// The seeded split of `eval` into a search part and a held-out verify part.
@Suite struct DataSplitTests {
    @Test(arguments: [(2, 0.5), (3, 0.5), (10, 0.3), (101, 0.5), (1000, 0.5), (1000, 0.1), (7, 0.01), (7, 0.99)])
    func partsAreDisjointCoverEverythingAndRespectTheFraction(count: Int, fraction: Double) throws {
        let split = DataSplit(verifyFraction: fraction)
        let parts = try #require(split.indices(count: count))
        #expect(Set(parts.search).isDisjoint(with: parts.verify))
        #expect((parts.search + parts.verify).sorted() == Array(0..<count))
        let expected = min(max(Int((Double(count) * fraction).rounded()), 1), count - 1)
        #expect(parts.verify.count == expected)
        #expect(!parts.search.isEmpty && !parts.verify.isEmpty)
        #expect(parts.search == parts.search.sorted() && parts.verify == parts.verify.sorted())
        // Deterministic: the same split every time (and so on every machine: no system RNG).
        let again = try #require(DataSplit(verifyFraction: fraction).indices(count: count))
        #expect(again.search == parts.search && again.verify == parts.verify)
    }

    @Test func theSplitIsAShuffleNotABlock() throws {
        let parts = try #require(DataSplit(verifyFraction: 0.5).indices(count: 1000))
        // A contiguous block (or alternation) would put all of one half at one end; a shuffle
        // spreads both halves over the file.
        let early = parts.verify.filter { $0 < 500 }.count
        #expect(early > 200 && early < 300, "\(early) of the 500 held out come from the first half")
        #expect(parts.verify != Array(0..<500) && parts.verify != Array(500..<1000))
        let other = try #require(DataSplit(verifyFraction: 0.5, seed: 7).indices(count: 1000))
        #expect(other.verify != parts.verify, "the seed selects the split")
    }

    @Test func theGeneratorIsSplitMix64() throws {
        // The published first output of SplitMix64 from seed 0 (Steele, Lea & Flood's generator,
        // as Java's SplittableRandom and Vigna's reference C code give it).
        var rng = SplitMix64(seed: 0)
        #expect(rng.next() == 0xE220_A839_7B1D_CDAF)
        // Fisher–Yates on two samples swaps index 1 with (that draw mod 2) = 1: the order stays
        // [0, 1], and the verify part is the order's first sample.
        let parts = try #require(DataSplit(verifyFraction: 0.5, seed: 0).indices(count: 2))
        #expect(parts.verify == [0] && parts.search == [1])
    }

    @Test func tooFewSamplesCannotBeSplit() {
        #expect(DataSplit(verifyFraction: 0.5).indices(count: 1) == nil)
        #expect(DataSplit(verifyFraction: 0.5).indices(count: 0) == nil)
    }

    @Test func selectingKeepsSamplesWithTheirLabels() throws {
        // Sample i has inputs [i, 10i] and label 100 + i.
        let inputs = Tensor(shape: [6, 2], scalars: (0..<6).flatMap { [Float($0), Float(10 * $0)] })
        let data = try Dataset(inputs: inputs, targets: .classes((0..<6).map { Int64(100 + $0) }))
        let split = DataSplit(verifyFraction: 0.5)
        let parts = try #require(split.indices(count: 6))
        for (part, indices) in [(DataSplit.Part.search, parts.search), (.verify, parts.verify)] {
            let d = try #require(data.part(part, of: split))
            #expect(d.count == indices.count)
            #expect(d.inputs.scalars == indices.flatMap { [Float($0), Float(10 * $0)] })
            #expect(d.targets == .classes(indices.map { Int64(100 + $0) }))
        }
        let values = DatasetTargets.values(Tensor(shape: [6, 1], scalars: (0..<6).map(Float.init)))
        #expect(values.selecting([4, 1]) == .values(Tensor(shape: [2, 1], scalars: [4, 1])))
    }
}
