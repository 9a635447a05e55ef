import Foundation
import Testing

/// `check_schema.py` validates the fixtures against docs/pipeline.schema.json and commits its
/// results; this test holds the schema and the Swift decoder to the same fixtures without needing
/// Python at test time. Rerun the script whenever a fixture or the schema changes.
@Suite struct SchemaResultsTests {
    struct Results: Decodable {
        struct Valid: Decodable { var passed: Bool; var errors: [String] }
        struct Invalid: Decodable {
            var schema_expressible: Bool
            var rejected: Bool
            var reason: String?
        }
        var valid: [String: Valid]
        var invalid: [String: Invalid]
    }

    func results() throws -> Results {
        let data = try Data(contentsOf: Fixtures.root.appendingPathComponent("schema_results.json"))
        return try JSONDecoder().decode(Results.self, from: data)
    }

    @Test func everyValidFixtureAndRecipePassedTheSchema() throws {
        let results = try results()
        let expected = Set(Fixtures.yamlFiles(in: Fixtures.valid).map { "valid/" + $0 }
            + Fixtures.yamlFiles(in: Fixtures.root.appendingPathComponent("recipes")).map { "recipes/" + $0 })
        #expect(Set(results.valid.keys) == expected, "schema_results.json is stale: rerun check_schema.py")
        for (name, result) in results.valid {
            #expect(result.passed, "\(name): \(result.errors)")
        }
    }

    @Test func everySchemaExpressibleInvalidFixtureWasRejected() throws {
        let results = try results()
        let expected = Set(Fixtures.yamlFiles(in: Fixtures.invalid).map { "invalid/" + $0 })
        #expect(Set(results.invalid.keys) == expected, "schema_results.json is stale: rerun check_schema.py")
        for (name, result) in results.invalid {
            if result.schema_expressible {
                #expect(result.rejected, "\(name) should be rejected by the schema")
            } else {
                #expect(result.reason?.isEmpty == false, "\(name) is marked semantic without a reason")
            }
        }
        #expect(results.invalid.values.filter(\.schema_expressible).count >= 15)
    }
}
