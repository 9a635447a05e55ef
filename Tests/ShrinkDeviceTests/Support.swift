import Foundation
import ShrinkDevice
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Testing

/// Paths of the repository's examples and fixtures.
enum Paths {
    static let root = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    static let lenet = root.appendingPathComponent("Examples/lenet-mnist")
    static let dscnn = root.appendingPathComponent("Examples/dscnn-mnist")
    static let fixtures = root.appendingPathComponent("Tests/Fixtures/device")
}

struct FixtureError: Error, CustomStringConvertible {
    var description: String
}

/// A model with its data, quantised once (min/max on its calibration set) and shared by the suites.
final class Example: Sendable {
    let name: String
    let graph: Graph
    let calibration: Tensor
    let test: Tensor
    let labels: [Int64]?
    let int8: QuantizedModel
    let float: DeviceGraph

    init(name: String, model: URL, calibration: Tensor, test: Tensor, labels: [Int64]?) throws {
        self.name = name
        graph = try Graph.load(contentsOf: model.path)
        self.calibration = calibration
        self.test = test
        self.labels = labels
        float = try DeviceGraph.lower(graph)
        guard case .int8(let q) = try DeviceCompiler.prepare(graph, calibration: calibration, options: DeviceOptions()) else {
            throw FixtureError(description: "not int8")
        }
        int8 = q
    }

    /// The first `n` test samples.
    func head(_ n: Int) -> Tensor {
        let per = test.count / test.shape[0]
        return Tensor(shape: [n] + test.shape.dropFirst(), scalars: Array(test.scalars.prefix(n * per)))
    }

    static func mnist(_ name: String) throws -> Example {
        let calib = try Dataset.load(npz: Paths.lenet.appendingPathComponent("calib.npz").path)
        let val = try Dataset.load(npz: Paths.lenet.appendingPathComponent("val.npz").path)
        guard case .classes(let labels) = val.targets else { throw FixtureError(description: "val.npz has no labels") }
        return try Example(name: name, model: Paths.root.appendingPathComponent("Examples/\(name)/model.onnx"),
                           calibration: calib.inputs, test: val.inputs, labels: labels)
    }

    static func synthetic(_ name: String) throws -> Example {
        let data = try NPZ.read(Paths.fixtures.appendingPathComponent("data.npz"))
        let key = name == "ops2d" ? "2d" : "1d"
        guard let c = data["calib" + key], let t = data["test" + key] else { throw FixtureError(description: "data.npz lacks \(key)") }
        return try Example(name: name, model: Paths.fixtures.appendingPathComponent("\(name).onnx"),
                           calibration: c.tensor(), test: t.tensor(), labels: nil)
    }

    static let lenet = Result { try mnist("lenet-mnist") }
    static let dscnn = Result { try mnist("dscnn-mnist") }
    static let ops2d = Result { try synthetic("ops2d") }
    static let ops1d = Result { try synthetic("ops1d") }

    static func named(_ name: String) throws -> Example {
        switch name {
        case "lenet-mnist": try lenet.get()
        case "dscnn-mnist": try dscnn.get()
        case "ops2d": try ops2d.get()
        default: try ops1d.get()
        }
    }
}

/// A fresh scratch directory for one test, removed by `cleanUp`.
func scratchDirectory(_ tag: String) -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("shrink-device-test-\(tag)-\(UUID().uuidString)")
}

/// The device toolchain, required: `make test` installs it (scripts/install-deps.sh).
func requiredToolchain() throws -> Toolchain {
    let t = Toolchain.detect()
    guard t.gcc != nil, t.armGCC != nil, t.armSize != nil, t.qemu != nil else {
        throw FixtureError(description: "the device tests need gcc, arm-none-eabi-gcc/-size and qemu-system-arm; run scripts/install-deps.sh (apt: \(Toolchain.packages))")
    }
    return t
}

/// Index of the largest value of each row.
func argmaxRows(_ values: [Double], columns: Int) -> [Int] {
    stride(from: 0, to: values.count, by: columns).map { start in
        var best = start
        for i in start..<(start + columns) where values[i] > values[best] { best = i }
        return best - start
    }
}
