import Foundation
import Testing
@testable import ShrinkTensor

/// Fixtures written by numpy itself (Tests/Fixtures/npy/make_npy_fixtures.py).
private let npyDir = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("Fixtures/npy")

private struct ManifestEntry: Decodable {
    var dtype: String?
    var expect: String?
    var shape: [Int]?
    var values: [JSONNumber]?
    var members: [String: ManifestEntry]?
}

/// A JSON number or boolean from the manifest, as a Double.
private struct JSONNumber: Decodable {
    var value: Double
    init(from decoder: Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let b = try? c.decode(Bool.self) { value = b ? 1 : 0 } else { value = try c.decode(Double.self) }
    }
}

private let manifest: [String: ManifestEntry] = {
    let data = (try? Data(contentsOf: npyDir.appendingPathComponent("manifest.json"))) ?? Data()
    return (try? JSONDecoder().decode([String: ManifestEntry].self, from: data)) ?? [:]
}()

private func check(_ array: NumPyArray, against entry: ManifestEntry) {
    #expect(array.shape == entry.shape)
    #expect(String(entry.dtype?.dropFirst() ?? "") == array.dtype.rawValue)
    let expected = entry.values?.map(\.value) ?? []
    #expect(array.doubles() == expected)
}

@Suite struct NumPyFileTests {
    @Test func manifestIsPresent() { #expect(manifest.count >= 15) }

    @Test(arguments: manifest.keys.filter { $0.hasSuffix(".npy") }.sorted())
    func readsWhatNumpyWrote(file: String) throws {
        let entry = try #require(manifest[file])
        let url = npyDir.appendingPathComponent(file)
        switch entry.expect {
        case "reject":
            #expect(throws: NumPyError.self) { try NPY.read(url) }
        default:
            let array = try NPY.read(url)
            check(array, against: entry)
        }
    }

    @Test(arguments: ["stored.npz", "deflated.npz"])
    func readsNpz(file: String) throws {
        let entry = try #require(manifest[file])
        let arrays = try NPZ.read(npyDir.appendingPathComponent(file))
        #expect(Set(arrays.keys) == Set(entry.members?.keys.map { $0 } ?? []))
        for (key, member) in entry.members ?? [:] {
            check(try #require(arrays[key]), against: member)
        }
    }

    @Test(arguments: manifest.keys.filter { $0.hasSuffix(".npy") && manifest[$0]?.expect == "load" }.sorted())
    func npyRoundTripIsBitExact(file: String) throws {
        let original = try NPY.read(npyDir.appendingPathComponent(file))
        let again = try NPY.decode(NPY.encode(original), name: "roundtrip")
        #expect(again == original)
        // Our encoding of a little-endian C-order array equals numpy's own file byte for byte
        // (numpy 1.x/2.x header layout), except for the version-2 fixture.
        if !file.contains("v2") {
            let onDisk = try Data(contentsOf: npyDir.appendingPathComponent(file))
            #expect(NPY.encode(original) == onDisk)
        }
    }

    @Test(arguments: [false, true])
    func npzRoundTripIsBitExact(compressed: Bool) throws {
        let arrays = try NPZ.read(npyDir.appendingPathComponent("stored.npz"))
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("rt-\(UUID().uuidString).npz")
        defer { try? FileManager.default.removeItem(at: url) }
        try NPZ.write(arrays, to: url, compressed: compressed)
        #expect(try NPZ.read(url) == arrays)
        // Deterministic bytes: writing the same arrays again gives the same file.
        let first = try Data(contentsOf: url)
        try NPZ.write(arrays, to: url, compressed: compressed)
        #expect(try Data(contentsOf: url) == first)
    }

    @Test func tensorConversionKeepsShapeAndValues() throws {
        let t = Tensor(shape: [2, 2], scalars: [1.5, -2, 0, .greatestFiniteMagnitude])
        let a = try NPY.decode(NPY.encode(NumPyArray(t)), name: "t")
        #expect(a.tensor() == t)
    }

    @Test(arguments: [
        (Data([1, 2, 3]), "bad magic"),
        (Data([0x93, 0x4E, 0x55, 0x4D, 0x50, 0x59, 1, 0, 200, 0]), "truncated header"),
    ])
    func rejectsMalformedBytes(data: Data, fragment: String) {
        #expect {
            try NPY.decode(data, name: "bad.npy")
        } throws: { error in
            "\(error)".contains(fragment) && "\(error)".hasPrefix("bad.npy: ")
        }
    }

    @Test func truncatedPayloadIsAnError() throws {
        let full = try Data(contentsOf: npyDir.appendingPathComponent("f32_3x4.npy"))
        #expect(throws: NumPyError.self) { try NPY.decode(full.dropLast(5), name: "cut.npy") }
    }

    @Test func missingNpzIsAnError() {
        #expect(throws: NumPyError.self) { try NPZ.read(URL(fileURLWithPath: "/nonexistent/x.npz")) }
    }
}
