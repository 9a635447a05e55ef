import Foundation
import Testing
import ShrinkPipeline

/// Every valid fixture loads without errors or warnings.
@Test(arguments: Fixtures.yamlFiles(in: Fixtures.valid))
func validFixtureLoads(name: String) throws {
    let lines = renderedDiagnostics(loading: Fixtures.valid.appendingPathComponent(name), relativeTo: Fixtures.valid)
    #expect(lines == [], "\(name) should load cleanly")
}

/// Every invalid fixture produces exactly the diagnostics in its `.expected` sidecar. Run with
/// `SHRINK_UPDATE_EXPECTED=1` to rewrite the sidecars (then review the diff).
@Test(arguments: Fixtures.yamlFiles(in: Fixtures.invalid))
func invalidFixtureDiagnostics(name: String) throws {
    let file = Fixtures.invalid.appendingPathComponent(name)
    let sidecar = file.deletingPathExtension().appendingPathExtension("expected")
    let actual = renderedDiagnostics(loading: file, relativeTo: Fixtures.invalid)
    if ProcessInfo.processInfo.environment["SHRINK_UPDATE_EXPECTED"] == "1" {
        try Data((actual.joined(separator: "\n") + "\n").utf8).write(to: sidecar)
    }
    let expectedText = try String(contentsOf: sidecar, encoding: .utf8)
    let expected = expectedText.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    #expect(actual == expected)
    #expect(actual.contains { $0.contains(": error: ") }, "an invalid fixture must fail with an error")
}

/// Every invalid fixture has a sidecar and every sidecar a fixture.
@Test func invalidFixturesHaveSidecars() throws {
    let names = try FileManager.default.contentsOfDirectory(atPath: Fixtures.invalid.path)
    let cases = Set(names.filter { $0.hasSuffix(".yaml") }.map { String($0.dropLast(5)) })
    let sidecars = Set(names.filter { $0.hasSuffix(".expected") }.map { String($0.dropLast(9)) })
    #expect(cases == sidecars)
    #expect(cases.count >= 15)
}
