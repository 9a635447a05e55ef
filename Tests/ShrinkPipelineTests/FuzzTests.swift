import Foundation
import Testing
@testable import ShrinkPipeline

/// Deterministic pseudo-random numbers (SplitMix64), so a failing mutation can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Whatever the input, loading returns a pipeline or throws diagnostics with sane positions;
/// it never crashes. (A crash would take the whole test process down, failing the run.)
@Suite struct FuzzTests {
    static let tokens = [
        ":", ": ", "-", "- ", " ", "  ", "\n", "\n  ", "{", "}", "[", "]", ",", "'", "\"", "${", "$${x}", "${x}", "&a ", "*a",
        "!!int ", "!!str ", "!!binary ", "#", "\t", "? ", "%YAML 1.1\n", "---\n", "...\n", "@", "`", "é", "\u{0}", "\u{FEFF}",
        "0x1F", "1e999", "-1", "99999999999999999999999", "0.0", ".inf", "~", "null", "true", "<<: *a", "|\n  ", ">-\n  ",
        "rules", "method", "rank", "match", "imports", "variants", "vars", "search", "tucker2", "[16, 8]", "{ energy: 2 }",
    ]

    static func mutate(_ text: String, using rng: inout SplitMix64) -> String {
        var chars = Array(text)
        for _ in 0..<Int.random(in: 1...4, using: &rng) {
            switch Int.random(in: 0..<6, using: &rng) {
            case 0 where !chars.isEmpty:
                let start = Int.random(in: 0..<chars.count, using: &rng)
                let end = min(chars.count, start + Int.random(in: 1...12, using: &rng))
                chars.removeSubrange(start..<end)
            case 1:
                let at = Int.random(in: 0...chars.count, using: &rng)
                chars.insert(contentsOf: tokens.randomElement(using: &rng) ?? "", at: at)
            case 2:
                var lines = String(chars).split(separator: "\n", omittingEmptySubsequences: false)
                if lines.count > 1 {
                    let a = Int.random(in: 0..<lines.count, using: &rng), b = Int.random(in: 0..<lines.count, using: &rng)
                    lines.swapAt(a, b)
                }
                chars = Array(lines.joined(separator: "\n"))
            case 3:
                var lines = String(chars).split(separator: "\n", omittingEmptySubsequences: false)
                if let line = lines.randomElement(using: &rng) {
                    lines.insert(line, at: Int.random(in: 0...lines.count, using: &rng))
                }
                chars = Array(lines.joined(separator: "\n"))
            case 4 where !chars.isEmpty:
                chars = Array(chars.prefix(Int.random(in: 0..<chars.count, using: &rng)))
            default:
                if !chars.isEmpty {
                    let at = Int.random(in: 0..<chars.count, using: &rng)
                    chars[at] = Character(Unicode.Scalar(UInt8.random(in: 9...126, using: &rng)))
                }
            }
        }
        return String(chars)
    }

    static func seeds() -> [String] {
        Fixtures.yamlFiles(in: Fixtures.valid).map { "valid/" + $0 } + Fixtures.yamlFiles(in: Fixtures.invalid).map { "invalid/" + $0 }
    }

    static func check(_ text: String, as file: URL, loader: PipelineLoader) {
        do {
            let loaded = try loader.load(source: text, file: file)
            #expect(!loaded.diagnostics.containsErrors)
            _ = loaded.assign(layers: lenetLayers)
        } catch {
            #expect(error.diagnostics.containsErrors, "a failed load carries an error")
            for diagnostic in error.diagnostics {
                #expect(diagnostic.location.line >= 1 && diagnostic.location.column >= 1, "\(diagnostic)")
                #expect(!diagnostic.message.isEmpty)
            }
        }
    }

    @Test(arguments: seeds())
    func mutatedFixturesNeverCrash(seed: String) throws {
        let file = Fixtures.root.appendingPathComponent(seed)
        let text = try String(contentsOf: file, encoding: .utf8)
        // FNV-1a of the name: `hashValue` is randomised per process and would make failures unrepeatable.
        var rng = SplitMix64(state: seed.utf8.reduce(0xcbf2_9ce4_8422_2325) { ($0 ^ UInt64($1)) &* 0x100_0000_01b3 })
        let loader = Fixtures.loader()
        for _ in 0..<150 {
            Self.check(Self.mutate(text, using: &rng), as: file, loader: loader)
        }
    }

    @Test func randomBytesNeverCrash() {
        var rng = SplitMix64(state: 42)
        let loader = Fixtures.loader()
        let alphabet = Array(" \n\t:-{}[],'\"#&*!|>%@`?abcxyz0123456789.$")
        for _ in 0..<300 {
            let length = Int.random(in: 0..<200, using: &rng)
            let text = String((0..<length).map { _ in alphabet.randomElement(using: &rng) ?? " " })
            Self.check(text, as: Fixtures.valid.appendingPathComponent("random.yaml"), loader: loader)
        }
    }

    @Test(arguments: [
        String(repeating: "[", count: 100_000),
        String(repeating: "{a: ", count: 50_000),
        String(repeating: "- ", count: 50_000) + "x",
        (0..<5000).map { String(repeating: " ", count: $0) + "a:" }.joined(separator: "\n"),
        "shrink: 1\nname: *undefined\n",
        "a: &a [1, 2]\nb: &b [*a, *a, *a, *a]\nc: &c [*b, *b, *b, *b]\nd: [*c, *c, *c, *c]\n",
        "shrink: 1\nrules: &r [{ method: svd }]\nvariants: { a: { rules: *r }, b: { rules: *r } }\n",
        "shrink: 1\n---\nshrink: 1\n",
        "shrink: 99999999999999999999999999\nname: x\n",
        "\u{FEFF}shrink: 1\n",
        "shrink: !!binary aGVsbG8=\n",
        "? [a, b]\n: c\n",
        "shrink: 1\nrules:\n  - match: { name: \"" + String(repeating: "*a", count: 2000) + "\" }\n    method: svd\n",
        "shrink: 1\nimports: [\"\", \".\", \"..\", \"/\", \"nul\\u0000.yaml\"]\n",
        "shrink: 1\nimports: [{ git: \"-oProxyCommand=touch /tmp/pwned\", rev: \(String(repeating: "a", count: 40)), path: x.yaml }]\n",
        "shrink: 1\nvars: { a: \"${a}\" }\nname: ${a}\n",
    ])
    func hostileInputs(text: String) {
        Self.check(text, as: Fixtures.valid.appendingPathComponent("hostile.yaml"), loader: Fixtures.loader())
    }

    @Test func aliasKeysCannotExplode() {
        var text = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
        for (level, previous) in zip("bcdefghij", "abcdefghi") {
            text += "\(level): &\(level) [" + Array(repeating: "*\(previous)", count: 10).joined(separator: ", ") + "]\n"
        }
        for key in ["*j : 1\n", "? *j\n: 1\n", "{ *j : 1 }\n", "- ? *j\n"] {
            do {
                _ = try Fixtures.loader().load(source: text + key, file: Fixtures.valid.appendingPathComponent("laughs.yaml"))
                Issue.record("alias keys must be refused")
            } catch {
                #expect(error.diagnostics.map(\.message) == ["an alias cannot be a mapping key here; pipeline keys are plain words"])
                #expect(error.diagnostics.first?.location.line == 11)
            }
        }
        // Aliases as values stay allowed.
        let values = "shrink: 1\nname: &n x\nmodel: ../assets/model.onnx\ndata: { eval: ../assets/val.npz }\naccept: &acc { max_drop: 0.1 }\nrules: [{ method: svd, match: { name: *n } }]\nvariants: { v: { accept: *acc, export: { onnx: out/v.onnx, report: out/v.md } } }\n"
        #expect(throws: Never.self) { try Fixtures.loader().load(source: values, file: Fixtures.valid.appendingPathComponent("aliases.yaml")) }
    }

    @Test func invalidUTF8IsADiagnostic() throws {
        let dir = TempDir()
        let file = dir.url.appendingPathComponent("bad.yaml")
        try Data([0x73, 0x68, 0xFF, 0xFE, 0x3A, 0x20, 0x31]).write(to: file)
        #expect(throws: PipelineLoadError.self) { try Fixtures.loader().load(file: file) }
        let lines = renderedDiagnostics(loading: file, relativeTo: dir.url)
        #expect(lines == ["bad.yaml:1:1: error: file is not valid UTF-8 text"])
    }

    @Test func deepNestingIsRefusedWithAPosition() {
        let lines = renderedDiagnostics(loading: Fixtures.valid.appendingPathComponent("missing-on-purpose.yaml"),
                                        relativeTo: Fixtures.valid)
        #expect(lines == ["missing-on-purpose.yaml:1:1: error: pipeline file not found or unreadable"])
        do {
            _ = try Fixtures.loader().load(source: String(repeating: "[", count: 1000), file: Fixtures.valid.appendingPathComponent("deep.yaml"))
            Issue.record("deep nesting must fail")
        } catch {
            #expect(error.diagnostics.map(\.message) == ["YAML nested more than 64 levels deep"])
            #expect(error.diagnostics.first?.location.column == 65)
        }
    }
}
