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
