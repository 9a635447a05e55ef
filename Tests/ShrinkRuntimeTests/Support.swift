import Foundation
import ShrinkGraph
import ShrinkTensor
@testable import ShrinkRuntime

/// The repository root, found from this file's location.
let repoRoot: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

/// A path inside the repository.
func repoPath(_ relative: String) -> String { repoRoot.appendingPathComponent(relative).path }

/// The largest violation of |a − b| ≤ tol · max(1, |b|) (0 when within tolerance; b is the reference).
func worstRelativeError(_ a: [Float], _ b: [Float]) -> Float {
    precondition(a.count == b.count)
    var worst: Float = 0
    for (x, y) in zip(a, b) {
        let e = abs(x - y) / max(1, abs(y))
        if !(e <= worst) { worst = e.isNaN ? .infinity : e }
    }
    return worst
}

/// Loads a float array from an .npz as a Tensor.
func npzTensors(_ path: String) throws -> [String: NumPyArray] {
    try NPZ.read(URL(fileURLWithPath: path))
}
