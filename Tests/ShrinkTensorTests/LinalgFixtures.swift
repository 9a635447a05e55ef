import Foundation
import ShrinkTensor

/// Reference files from Tests/Fixtures/linalg (see make_linalg_fixtures.py there for every key).
enum LinalgFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/linalg")

    /// An .npy file as a Float tensor (float64 files are rounded to Float).
    static func tensor(_ name: String) throws -> Tensor {
        try NPY.read(directory.appendingPathComponent(name)).tensor()
    }

    /// All arrays of an .npz file.
    static func archive(_ name: String) throws -> [String: NumPyArray] {
        try NPZ.read(directory.appendingPathComponent(name))
    }
}

extension Dictionary where Key == String, Value == NumPyArray {
    /// Member `key` as a Float tensor; a missing key is a broken fixture, reported by throwing.
    func tensor(_ key: String) throws -> Tensor {
        guard let a = self[key] else { throw NumPyError(file: key, message: "missing fixture key") }
        return a.tensor()
    }

    /// Member `key` as Doubles.
    func doubles(_ key: String) throws -> [Double] {
        guard let a = self[key] else { throw NumPyError(file: key, message: "missing fixture key") }
        return a.doubles()
    }

    /// Scalar member `key`.
    func scalar(_ key: String) throws -> Double {
        guard let v = try doubles(key).first else { throw NumPyError(file: key, message: "empty fixture key") }
        return v
    }
}

/// Deterministic test matrices.
enum TestData {
    /// A rows×cols matrix of uniform values in [-1, 1) from `seed`.
    static func matrix(_ rows: Int, _ cols: Int, seed: UInt64) -> Tensor {
        tensor([rows, cols], seed: seed)
    }

    /// A tensor of `shape` with uniform values in [-1, 1) from `seed`.
    static func tensor(_ shape: [Int], seed: UInt64) -> Tensor {
        var rng = SeededGenerator(seed: seed)
        let n = shape.reduce(1, *)
        return Tensor(shape: shape, scalars: (0..<n).map { _ in 2 * rng.nextUnitFloat() - 1 })
    }

    /// Max |a − b| over elements.
    static func maxAbsDiff(_ a: Tensor, _ b: Tensor) -> Float {
        zip(a.scalars, b.scalars).reduce(0) { Swift.max($0, abs($1.0 - $1.1)) }
    }

    /// ‖a − b‖ / ‖b‖ in Double.
    static func relDiff(_ a: Tensor, _ b: Tensor) -> Double {
        var num = 0.0, den = 0.0
        for (x, y) in zip(a.scalars, b.scalars) {
            num += Double(x - y) * Double(x - y)
            den += Double(y) * Double(y)
        }
        return (num / max(den, .leastNormalMagnitude)).squareRoot()
    }
}
