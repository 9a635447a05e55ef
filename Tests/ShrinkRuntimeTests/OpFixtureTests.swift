import Foundation
import ShrinkGraph
import ShrinkTensor
import Testing
@testable import ShrinkRuntime

/// One entry of `Tests/Fixtures/onnx-ops/manifest.json`.
struct OpFixture: Decodable, Sendable, CustomStringConvertible {
    struct Port: Decodable, Sendable { var name: String; var dtype: String; var shape: [Int]; var key: String? }
    var `case`: String
    var model: String
    var data: String
    var opset: Int
    var inputs: [Port]
    var outputs: [Port]
    var description: String { self.case }

    static let directory = repoPath("Tests/Fixtures/onnx-ops")

    static let all: [OpFixture] = {
        struct Manifest: Decodable { var cases: [OpFixture] }
        guard let data = FileManager.default.contents(atPath: directory + "/manifest.json"),
              let m = try? JSONDecoder().decode(Manifest.self, from: data) else { return [] }
        return m.cases
    }()
}

/// Converts a NumPy array from a fixture into a runtime value (int32 and bool widen to int64).
func runtimeValue(_ a: NumPyArray) -> Value {
    switch a.dtype {
    case .float32, .float64: return .float(a.tensor())
    default: return .int64(IntTensor(shape: a.shape, values: a.integersIfIntegral() ?? []))
    }
}

@Suite struct OpFixtureTests {
    @Test func manifestIsPresent() {
        #expect(OpFixture.all.count >= 100)
    }

    /// Every op fixture against onnxruntime. Float outputs: |ours − ort| ≤ 1e-4 · max(1, |ort|)
    /// elementwise; integer and bool outputs exactly.
    @Test(arguments: OpFixture.all)
    func matchesOnnxruntime(_ fixture: OpFixture) throws {
        let graph = try Graph.load(contentsOf: OpFixture.directory + "/" + fixture.model)
        let arrays = try NPZ.read(URL(fileURLWithPath: OpFixture.directory + "/" + fixture.data))
        var feeds = [String: Value]()
        for i in fixture.inputs { feeds[i.name] = runtimeValue(try #require(arrays[i.name])) }
        for threads in [1, 2] {
            let session = try Session(graph: graph, options: SessionOptions(threads: threads))
            let out = try session.run(values: feeds)
            for o in fixture.outputs {
                let expected = try #require(arrays[o.key ?? "out:\(o.name)"])
                let got = try #require(out[o.name], "no output \(o.name)")
                #expect(got.shape == expected.shape, "\(o.name) shape")
                switch (got, expected.dtype) {
                case (.float(let t), .float32):
                    let err = worstRelativeError(t.scalars, expected.floats())
                    #expect(err <= 1e-4, "\(o.name): worst relative error \(err) (threads \(threads))")
                case (.int64(let t), .int64), (.int64(let t), .bool), (.int64(let t), .int32):
                    #expect(t.values == expected.integersIfIntegral(), "\(o.name) values")
                default:
                    Issue.record("\(o.name): got \(got.typeName), expected \(expected.dtype)")
                }
            }
        }
    }
}
