import Foundation
import Testing
@testable import ShrinkBuild

struct Inner: Encodable { var z = 1; var a: [Double] = [0.5, 1e-5] }
struct Outer: Encodable {
    var name = "conv2"
    var rank: Int? = 16
    var missing: Int? = nil
    var inner = Inner()
    var map: [String: Int] = ["b": 2, "a": 1, "é": 3, "Z": 0]
}

@Suite struct CanonicalJSONTests {
    @Test func sortedKeysNoWhitespaceOptionalsOmitted() throws {
        let text = String(decoding: try CanonicalJSON.encode(Outer()), as: UTF8.self)
        #expect(text == #"{"inner":{"a":[0.5,1e-05],"z":1},"map":{"Z":0,"a":1,"b":2,"é":3},"name":"conv2","rank":16}"#)
    }

    @Test(arguments: [
        (0.1, "0.1"), (1.0, "1.0"), (-0.0, "-0.0"), (1e-7, "1e-07"), (123456789.125, "123456789.125"),
        (Double.pi, "3.141592653589793"), (1e300, "1e+300"),
    ])
    func doublesPrintShortestRoundTrip(value: Double, expected: String) throws {
        #expect(String(decoding: try CanonicalJSON.encode([value]), as: UTF8.self) == "[\(expected)]")
    }

    @Test func floatsKeepTheirOwnShortestForm() throws {
        #expect(String(decoding: try CanonicalJSON.encode([Float(0.1)]), as: UTF8.self) == "[0.1]")
        #expect(String(decoding: try CanonicalJSON.encode([Double.nan, .infinity]), as: UTF8.self) == #"["NaN","Infinity"]"#)
    }

    @Test func dictionaryInsertionOrderDoesNotMatter() throws {
        var first = [String: Int]()
        var second = [String: Int]()
        for i in 0..<50 { first["k\(i)"] = i }
        for i in (0..<50).reversed() { second["k\(i)"] = i }
        #expect(try CanonicalJSON.encode(first) == CanonicalJSON.encode(second))
    }

    @Test func stringsEscapeQuotesBackslashesAndControls() throws {
        let text = String(decoding: try CanonicalJSON.encode(["a\"b\\c\nd\u{1}"]), as: UTF8.self)
        #expect(text == #"["a\"b\\c\nd\u0001"]"#)
    }

    @Test func flattenNamesLeafPaths() throws {
        let flat = CanonicalJSON.flatten(try CanonicalJSON.makeValue(Outer()))
        #expect(flat["inner.a[1]"] == "1e-05")
        #expect(flat["name"] == "\"conv2\"")
        #expect(flat["map.é"] == "3")
        #expect(flat["missing"] == nil)
        #expect(CanonicalJSON.flatten(try CanonicalJSON.makeValue(EmptyParameters())) == ["": "{}"])
    }
}

@Suite struct DigestTests {
    @Test func knownVectors() {
        #expect(Digest.of("abc").hex == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(Digest.of(Data()).hex == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test(arguments: [0, 1, (1 << 20) - 1, 1 << 20, 3 * (1 << 20) + 17])
    func streamedFileDigestMatchesInMemory(size: Int) throws {
        let scratch = try Scratch()
        var bytes = [UInt8](repeating: 0, count: size)
        for i in bytes.indices { bytes[i] = UInt8(truncatingIfNeeded: i &* 2_654_435_761 >> 7) }
        let data = Data(bytes)
        try data.write(to: scratch.file("blob"))
        #expect(try Digest.ofFile(at: scratch.file("blob")) == Digest.of(data))
    }

    @Test func parsesAndRejects() {
        #expect(Digest(hex: String(repeating: "A", count: 64))?.hex == String(repeating: "a", count: 64))
        #expect(Digest(hex: String(repeating: "g", count: 64)) == nil)
        #expect(Digest(hex: "abc") == nil)
    }
}
