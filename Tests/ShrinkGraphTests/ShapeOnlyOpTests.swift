import Foundation
import Testing
@testable import ShrinkGraph

/// One case of `Tests/Fixtures/onnx-shapes/manifest.json`.
struct ShapeOnlyCase: Decodable, Sendable, CustomStringConvertible {
    struct Output: Decodable, Sendable { var shape: [Int]; var type: String }
    var `case`: String
    var model: String
    var op: String
    var inputs: [String: [Int]]
    var outputs: [String: Output]
    var description: String { self.case }

    static let all: [ShapeOnlyCase] = {
        struct Manifest: Decodable { var cases: [ShapeOnlyCase] }
        guard let data = FileManager.default.contents(atPath: Fixtures.path("Tests/Fixtures/onnx-shapes/manifest.json")),
              let m = try? JSONDecoder().decode(Manifest.self, from: data) else { return [] }
        return m.cases
    }()
}

/// Ops the engine does not run but costing must get past: shape inference against onnxruntime.
@Suite struct ShapeOnlyOpTests {
    @Test func casesArePresent() { #expect(ShapeOnlyCase.all.count >= 20) }

    @Test(arguments: ShapeOnlyCase.all)
    func shapesMatchOnnxruntime(_ c: ShapeOnlyCase) throws {
        let g = try Graph.load(contentsOf: Fixtures.path("Tests/Fixtures/onnx-shapes/\(c.model)"))
        let s = try g.inferShapes()
        #expect(s.unsupportedOps.isEmpty, "\(c): \(s.unsupportedOps)")
        for (name, o) in c.outputs {
            #expect(s[name] == o.shape, "\(c): \(name)")
            #expect(s.elementTypes[name]?.description == o.type, "\(c): type of \(name)")
        }
    }
}

/// An op no rule knows (a custom domain) before a layer: the file's value_info gives its output,
/// so the layer is still costed; the op is still reported.
@Suite struct AnnotatedUnknownOpTests {
    @Test func valueInfoCarriesShapesPastAnUnknownOp() throws {
        var g = Graph()
        g.inputs = [Build.input("x", [.symbol("N"), .value(4), .value(6), .value(6)])]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        g.valueInfo = [ValueInfo(name: "f", shape: [.symbol("N"), .value(4), .value(6), .value(6)])]
        g.setInitializer("conv.weight", Build.weight([8, 4, 3, 3]))
        g.nodes = [
            Node(name: "fancy", opType: "Fancy", domain: "com.example", inputs: ["x"], outputs: ["f"]),
            Node(name: "conv", opType: "Conv", inputs: ["f", "conv.weight"], outputs: ["y"]),
        ]
        let s = try g.inferShapes()
        #expect(s.unsupportedOps == ["Fancy"])
        let t = try LayerTable(graph: g, shapes: s)
        #expect(t.layers.first?.macs == 8 * 4 * 4 * 4 * 9)
        // Shapes given explicitly may contradict a symbolic annotation: then it is not used.
        #expect(try g.inferShapes(inputShapes: ["x": [1, 4, 6, 6]])["f"] == nil)
    }
}
