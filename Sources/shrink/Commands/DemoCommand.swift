import ArgumentParser
import ShrinkTensor

/// `shrink demo`: a small self-contained run of the numerical core.
struct DemoCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo", abstract: "Run a small demonstration of Shrink's numerical core.")

    func run() throws {
        let t = Tensor(shape: [2, 3], scalars: [1, 2, 3, 4, 5, 6])
        print("tensor \(t.shape), Frobenius norm \(t.frobeniusNorm)")
    }
}
