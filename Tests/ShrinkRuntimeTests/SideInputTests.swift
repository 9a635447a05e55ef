import Foundation
import ShrinkGraph
@testable import ShrinkRuntime
import ShrinkTensor
import Testing

/// A model's further data inputs, fed from the arrays named like them in the data file: each
/// follows its own sample axis through splits, prefixes and batches, or is shared whole.
@Suite struct SideInputTests {
    /// x [5, 3]; h [2, 5, 4] (samples on axis 1, as recurrent states are declared); ids [5, 2]
    /// int64; sr [] int64. Every value encodes its sample, so slices can be checked exactly.
    static func file() throws -> (URL, () -> Void) {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("shrink-side-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let x = Tensor(shape: [5, 3], scalars: (0..<15).map { Float($0 / 3) })
        let h = Tensor(shape: [2, 5, 4], scalars: (0..<40).map { i in Float((i / 4) % 5) + Float(i / 20) * 100 })
        let arrays: [String: NumPyArray] = [
            "x": NumPyArray(x), "h": NumPyArray(h),
            "ids": NumPyArray(integers: (0..<10).map { Int64($0 / 2) }, shape: [5, 2], dtype: .int64),
            "sr": NumPyArray(integers: [16000], shape: [], dtype: .int64),
        ]
        let url = dir.appendingPathComponent("side.npz")
        try NPZ.write(arrays, to: url)
        return (url, { try? FileManager.default.removeItem(at: dir) })
    }

    /// Sample k of h (both halves of axis 0), as the file holds it.
    static func hSamples(_ t: Tensor) -> [[Float]] {
        let n = t.shape[1]
        var samples: [[Float]] = []
        for k in 0..<n {
            var values: [Float] = []
            for o in 0..<2 {
                let start = (o * n + k) * 4
                values += t.scalars[start..<(start + 4)]
            }
            samples.append(values)
        }
        return samples
    }

    @Test func eachArrayFollowsItsSampleAxis() throws {
        let (url, remove) = try Self.file()
        defer { remove() }
        let d = try Dataset.load(npz: url.path, targetKey: nil)
        #expect(d.count == 5)
        #expect(d.sideInputs["h"]?.sampleAxis == 1)
        #expect(d.sideInputs["ids"]?.sampleAxis == 0)
        #expect(d.sideInputs["sr"]?.sampleAxis == nil)
        // A batch of samples 2..<4: h keeps its layout, [2, 2, 4], with those samples' values.
        let batch = try #require(Array(d.batches(size: 2)).dropFirst().first)
        let h = try #require(batch.sideInput("h"))
        #expect(h.shape == [2, 2, 4])
        #expect(Self.hSamples(h).map { $0[0] } == [2, 3])
        #expect(Self.hSamples(h).map { $0[4] } == [102, 103])
        #expect(batch.sideInput("ids")?.scalars == [2, 2, 3, 3])
        #expect(batch.sideInput("sr")?.shape == [] && batch.sideInput("sr")?.scalars == [16000])
        // A selection in another order, and a prefix.
        let picked = d.selecting([4, 0])
        #expect(picked.inputs.scalars == [4, 4, 4, 0, 0, 0])
        let ph = try #require(picked.sideInputs["h"]?.values)
        #expect(ph.shape == [2, 2, 4] && Self.hSamples(ph).map { $0[0] } == [4, 0])
        #expect(d.prefix(3).sideInputs["h"]?.values.shape == [2, 3, 4])
        #expect(d.prefix(3).sideInputs["sr"]?.values.scalars == [16000])
    }

    /// A model reading x, h and sr: the feeds for a session name exactly its inputs; a file
    /// missing inputs names all of them; an array on the wrong axis says what was expected.
    @Test func checkingAgainstAModelNamesWhatIsMissingOrMisshapen() throws {
        var g = Graph(opsets: [OpsetImport(domain: "", version: 14)])
        g.inputs = [ValueInfo(name: "x", shape: [.symbol("N"), .value(3)]),
                    ValueInfo(name: "h", shape: [.value(2), .symbol("N"), .value(4)]),
                    ValueInfo(name: "sr", elementType: .int64, shape: []),
                    ValueInfo(name: "state", shape: [.symbol("N"), .value(7)])]
        g.outputs = [ValueInfo(name: "y", shape: nil)]
        g.nodes = [Node(name: "id", opType: "Identity", inputs: ["x"], outputs: ["y"])]
        let session = try Session(graph: g)
        let (url, remove) = try Self.file()
        defer { remove() }
        let d = try Dataset.load(npz: url.path, targetKey: nil)
        func refusal(_ data: Dataset) -> String {
            do { try data.check(fits: session, input: "x") } catch { return "\(error)" }
            return "accepted"
        }
        let missing = refusal(d)
        #expect(missing.contains("no 'state'") && missing.contains("add that array") && missing.contains("side.npz"), "\(missing)")
        // With `state` given on the wrong axis ([7, N]): the shape, the axis and the declaration.
        var wrong = d
        wrong.sideInputs["state"] = SideInput(values: Tensor(zeros: [7, 5]), sampleAxis: 1)
        let misshapen = refusal(wrong)
        #expect(misshapen.contains("state has shape [7, 5]") && misshapen.contains("axis 1 holds the samples") && misshapen.contains("[N, 7]"),
                "\(misshapen)")
        var right = d
        right.sideInputs["state"] = SideInput(values: Tensor(zeros: [5, 7]), sampleAxis: 0)
        let checked = try right.check(fits: session, input: "x")
        #expect(Set(checked.sideInputs.keys) == ["h", "sr", "state"], "ids is not a model input")
        let feeds = try #require(Array(checked.batches(size: 4)).first).feeds(primary: "x", session: session)
        #expect(Set(feeds.keys) == ["x", "h", "sr", "state"])
        #expect(feeds["h"]?.shape == [2, 4, 4] && feeds["state"]?.shape == [4, 7])
        #expect(try session.run(inputs: feeds)["y"]?.shape == [4, 3])
    }
}
