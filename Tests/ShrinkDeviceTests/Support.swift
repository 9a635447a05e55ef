import Foundation
import ShrinkDevice
import ShrinkGraph
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
