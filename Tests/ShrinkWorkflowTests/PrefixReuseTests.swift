import Foundation
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing
@testable import ShrinkWorkflow

/// Reusing the original model's activations before the first changed layer (`Scoring.prefixFeeds`).
@Suite struct PrefixReuseTests {
    /// x [2, 3, 4] (batch fixed at 2) → Transpose to sequence-first [3, 2, 4] → MatMul (the layer)
    /// → Transpose back. The cut before the layer is not batch-major, so a fixed-batch session
    /// cannot hand it back per sample: no reuse (nil), where it used to fail every candidate.
    func model(perm: [Int]) -> Graph {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 13)])
        g.inputs = [ValueInfo(name: "x", shape: [.value(2), .value(3), .value(4)])]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        g.setInitializer("w", .float(Tensor(shape: [4, 4], scalars: (0..<16).map { Float($0 % 5) - 2 })))
        g.nodes = [Node(name: "in", opType: "Transpose", inputs: ["x"], outputs: ["t"], attributes: [Attribute("perm", .ints(perm))]),
                   Node(name: "fc", opType: "MatMul", inputs: ["t", "w"], outputs: ["m"]),
                   Node(name: "out", opType: "Transpose", inputs: ["m"], outputs: ["y"], attributes: [Attribute("perm", .ints(perm))])]
        return g
    }

    func candidate(of g: Graph) -> Graph {
        var c = g
        c.setInitializer("w2", .float(Tensor(shape: [4, 4], scalars: [Float](repeating: 0.5, count: 16))))
        c.nodes[1] = Node(name: "fc.0", opType: "MatMul", inputs: ["t", "w2"], outputs: ["m"])
        return c
    }

    @Test(arguments: [([1, 0, 2], false), ([0, 1, 2], true)])
    func aCutIsReusedOnlyWhenItIsBatchMajor(perm: [Int], reusable: Bool) throws {
        let g = model(perm: perm)
        let data = try Dataset(inputs: Tensor(shape: [5, 3, 4], scalars: (0..<60).map { Float($0) / 10 }))
        let feeds = try Scoring.prefixFeeds(candidate: candidate(of: g), original: g, originalKey: "prefix-test-\(perm)",
                                            changedLayers: ["fc"], layerInputs: ["fc": "t"], data: data,
                                            dataKey: "d", threads: 1)
        #expect((feeds != nil) == reusable)
        if let t = feeds?["t"] { #expect(t.shape == [5, 3, 4]) }
    }
}
