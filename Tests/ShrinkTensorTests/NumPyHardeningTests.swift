import Foundation
import Testing
@testable import ShrinkTensor

/// Malformed files written by Tests/Fixtures/npy/bad/make_bad_fixtures.py.
private let badDir = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/npy/bad")

/// `body` throws a `NumPyError` whose text contains every fragment.
private func expectRefused(_ fragments: [String], _ body: () throws -> Void,
                           sourceLocation: SourceLocation = #_sourceLocation) {
    do {
        try body()
        Issue.record("accepted; expected an error containing \(fragments)", sourceLocation: sourceLocation)
    } catch let error as NumPyError {
        let text = error.description
        for f in fragments { #expect(text.contains(f), "\(text)", sourceLocation: sourceLocation) }
    } catch {
        Issue.record("expected a NumPyError, got \(error)", sourceLocation: sourceLocation)
    }
}

@Suite struct NumPyHardeningTests {
    // Before: `shape.reduce(1, *)` trapped (overflow), killing the process.
    @Test(arguments: [
        ("overflow_shape.npy", "[4611686018427387904, 4]"),
        ("overflow_shape_3d.npy", "[4294967296, 4294967296, 2]"),
    ])
    func overflowingShapeIsAnError(file: String, shape: String) {
        expectRefused([file, shape, "too large"]) { _ = try NPY.read(badDir.appendingPathComponent(file)) }
    }

    @Test func overflowingShapeInAnArchiveIsAnError() {
        expectRefused(["overflow_shape.npz", "member 'x.npy'", "too large"]) {
            _ = try NPZ.read(badDir.appendingPathComponent("overflow_shape.npz"))
        }
    }

    @Test(arguments: [[Int.max, 2], [1 << 32, 1 << 32], [3, -1], [1 << 62, 2, 0]])
    func arrayInitRefusesImpossibleShapes(shape: [Int]) {
        #expect(throws: NumPyError.self) { try NumPyArray(dtype: .float32, shape: shape, bytes: Data()) }
    }

    // Before: the result of the CRC check was discarded and the damaged bytes used.
    @Test(arguments: ["crc_stored.npz", "crc_deflated.npz"])
    func crcMismatchIsAnError(file: String) {
        expectRefused([file, "member 'x.npy'", "CRC-32"]) { _ = try NPZ.read(badDir.appendingPathComponent(file)) }
    }

    // Before: the 32 KB archive inflated to 32 MiB (a 3 MB one to 3 GB) before anything looked at it.
    @Test(arguments: [
        ("bomb_header.npz", "declares 33554600 bytes"),
        ("bomb_directory.npz", "inflates to more than the 168 bytes"),
    ])
    func deflateBombIsRefusedWithoutInflating(file: String, fragment: String) {
        expectRefused([file, "member 'x.npy'", fragment]) { _ = try NPZ.read(badDir.appendingPathComponent(file)) }
    }

    @Test func truncatedStreamIsAnErrorNotAHang() {
        expectRefused(["truncated_deflate.npz", "member 'x.npy'"]) {
            _ = try NPZ.read(badDir.appendingPathComponent("truncated_deflate.npz"))
        }
    }

    @Test func headerLongerThanAMegabyteIsRefused() {
        var d = Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 2, 0])
        d.append(contentsOf: [0, 0, 0, 0x40])  // 1 GiB header
        expectRefused(["big.npy", "header claims"]) { _ = try NPY.decode(d, name: "big.npy") }
    }

    @Test func goodFixturesStillRead() throws {
        let arrays = try NPZ.read(badDir.appendingPathComponent("lenet_ok.npz"))
        #expect(arrays["x"]?.shape == [8, 1, 28, 28])
        #expect(arrays["y"]?.shape == [8])
    }

    /// The decoder against zlib (ZIPFoundation's writer): random and repetitive data, every size class.
    @Test(arguments: [0, 1, 100, 4096, 70_000, 300_000])
    func inflateMatchesZlib(size: Int) throws {
        var state: UInt64 = UInt64(size) &+ 0x9E37_79B9
        func next() -> UInt8 {
            state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return UInt8(truncatingIfNeeded: state >> 59)  // few distinct bytes: long matches
        }
        let bytes = (0..<size).map { i in i % 3 == 0 ? UInt8(truncatingIfNeeded: i) : next() }
        let array = NumPyArray(integers: bytes, shape: [size], dtype: .uint8)
        let npy = NPY.encode(array)
        let zip = try ZipReader(try NPZ.encode(["b": array], compressed: true))
        let member = try #require(zip.members.first)
        #expect(member.method == 8)
        #expect(try zip.contents(of: member, limit: npy.count) == npy)
        #expect(throws: ZipReader.Failure.self) { try zip.contents(of: member, limit: npy.count - 1) }
        #expect(try NPZ.decode(try NPZ.encode(["b": array], compressed: true), name: "b.npz")["b"] == array)
    }

    /// Random bytes and damaged archives never trap or hang the reader.
    @Test func randomStreamsAreErrorsNotCrashes() {
        var state: UInt64 = 7
        for round in 0..<300 {
            var bytes = [UInt8]()
            for _ in 0..<(round % 64 + 1) * 8 {
                state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                bytes.append(UInt8(truncatingIfNeeded: state >> 56))
            }
            _ = bytes.withUnsafeBytes { try? Inflate.decode($0, limit: 1 << 16) }
            _ = try? NPZ.decode(Data(bytes), name: "random.npz")
        }
    }
}
