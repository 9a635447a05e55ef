import Foundation
import ShrinkCompress
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// Paths of the repository's fixtures and examples.
enum Paths {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let linalg = root.appendingPathComponent("Tests/Fixtures/linalg")
    static let decompose = root.appendingPathComponent("Tests/Fixtures/decompose")
    static let lenet = root.appendingPathComponent("Examples/lenet-mnist")
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
}

func npy(_ url: URL) throws -> Tensor { try NPY.read(url).tensor() }

func npz(_ url: URL) throws -> [String: NumPyArray] { try NPZ.read(url) }

/// The LeNet example, loaded once: its graph, calibration inputs, and per-layer input shapes.
final class LeNet: Sendable {
    static let shared: LeNet? = try? LeNet()

    let graph: Graph
    let calib: Tensor
    let references: [LayerReference]

    init() throws {
        graph = try Graph.load(contentsOf: Paths.lenet.appendingPathComponent("model.onnx").path)
        guard let x = try npz(Paths.lenet.appendingPathComponent("calib.npz"))["x"] else {
            throw FixtureError(description: "calib.npz has no x")
        }
        calib = x.tensor()
        references = try GraphLayers.references(in: graph)
    }

    func reference(_ name: String) throws -> LayerReference {
        try GraphLayers.reference(named: name, in: references)
    }

    func layer(_ name: String) throws -> LayerDescriptor {
        try GraphLayers.descriptor(try reference(name), in: graph)
    }

    /// The first `count` calibration samples.
    func inputs(_ count: Int) -> Tensor {
        let n = min(count, calib.shape[0])
        let per = calib.count / calib.shape[0]
        return Tensor(shape: [n] + Array(calib.shape.dropFirst()), scalars: Array(calib.scalars.prefix(n * per)))
    }

    /// Activation statistics of a layer's input on the first `count` calibration samples.
    func statistics(_ name: String, samples count: Int = 256) throws -> ActivationStatistics {
        let ref = try reference(name)
        let layer = try self.layer(name)
        let session = try Session(graph: graph, options: SessionOptions(threads: 1))
        guard let act = try session.run(from: ["input": inputs(count)], outputs: [ref.input])[ref.input] else {
            throw FixtureError(description: "no activation for \(ref.input)")
        }
        var stats = ActivationStatistics(dimension: layer.weightMatrix.shape[1])
        try stats.add(layerInput: GraphLayers.activationRows(act, of: ref), of: layer)
        return stats
    }
}

/// The LeNet example or a thrown error.
func lenet() throws -> LeNet {
    guard let l = LeNet.shared else { throw FixtureError(description: "could not load Examples/lenet-mnist") }
    return l
}

/// ‖a − b‖ / ‖b‖.
func relativeDifference(_ a: Tensor, _ b: Tensor) -> Double {
    precondition(a.count == b.count)
    var num = 0.0, den = 0.0
    for i in a.scalars.indices {
        let d = Double(a.scalars[i]) - Double(b.scalars[i])
        num += d * d
        den += Double(b.scalars[i]) * Double(b.scalars[i])
    }
    return den > 0 ? (num / den).squareRoot() : num.squareRoot()
}

/// Runs a graph on `feeds` with Shrink's executor and returns the named outputs.
func run(_ graph: Graph, _ feeds: [String: Tensor], outputs: [String]? = nil) throws -> [String: Tensor] {
    let session = try Session(graph: graph, options: SessionOptions(threads: 1))
    return try session.run(from: feeds, outputs: outputs)
}
