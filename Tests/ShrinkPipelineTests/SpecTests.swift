import Foundation
import Testing
@testable import ShrinkPipeline

@Suite struct SpecTests {
    let loader = Fixtures.loader()

    func load(_ name: String) throws -> LoadedPipeline {
        try loader.load(file: Fixtures.valid.appendingPathComponent(name))
    }

    @Test func sketchResolvesValuesAndPaths() throws {
        let loaded = try load("sketch.yaml")
        let spec = loaded.spec
        #expect(spec.variant == nil)
        #expect(spec.name.value == "lenet-digits")
        #expect(spec.model.value.path == Fixtures.root.appendingPathComponent("assets/model.onnx").standardizedFileURL.path)
        #expect(spec.model.location.line == 5 && spec.model.location.column == 8)
        #expect(spec.data.searchSubset?.value == 1000)
        #expect(spec.metric.value == .top1)
        #expect(spec.accept.value == .maxDrop(0.005))
        #expect(spec.accept.location.line == 10 && spec.accept.location.column == 9)
        #expect(spec.search.policy.value == .budget && spec.search.objective.value == .macs)
        #expect(spec.export.onnx.value.path == Fixtures.valid.appendingPathComponent("out/lenet-digits.onnx").path)
        #expect(spec.export.reportJSON.lastPathComponent == "lenet-digits.json")
        // The pipeline's two rules first, then the recipe's three.
        #expect(spec.rules.map(\.method.value) == [.cp, .svd, .cp, .tucker2, .svd])
        #expect(spec.rules.prefix(2).allSatisfy { $0.origin == .pipeline })
        let recipe = Fixtures.root.appendingPathComponent("recipes/cnn-basic.yaml").standardizedFileURL
        #expect(spec.rules.suffix(3).allSatisfy { $0.origin == .recipe(recipe) })
        #expect(spec.rules[1].rank?.value == .search(RankSearchRange()), "an unranked rule searches")
        // `rank: { energy: "${energy}" }` takes the variable's type: a number.
        #expect(spec.rules[3].rank?.value == .energy(0.95))
        #expect(spec.rules[3].location.file == recipe && spec.rules[3].location.line == 12)
        #expect(loaded.files.map(\.url.lastPathComponent) == ["sketch.yaml", "cnn-basic.yaml"])
        let first = try #require(loaded.files.first)
        #expect(first.digest == SHA256Digest.hex(first.content))
        #expect(loaded.gitRecipes.isEmpty && loaded.diagnostics.isEmpty)
    }

    @Test func everythingCoversEveryKeyAndVariants() throws {
        let loaded = try load("everything.yaml")
        let spec = loaded.spec
        let assets = Fixtures.root.appendingPathComponent("assets").standardizedFileURL
        #expect(spec.data.eval.source == .npy(x: assets.appendingPathComponent("x.npy"), y: assets.appendingPathComponent("y.npy")))
        #expect(spec.data.eval.scale == 0.00392156862745098)
        #expect(spec.data.searchSubset?.value == 256)
        #expect(spec.data.search?.source == .npz(assets.appendingPathComponent("search.npz"), xKey: "images", yKey: "labels"))
        #expect(spec.data.effectiveCalibration.source == .npz(assets.appendingPathComponent("val.npz"), xKey: "x", yKey: "y"))
        guard case .command(let command) = spec.metric.value else {
            Issue.record("expected a command metric")
            return
        }
        #expect(command.command == .argv(["python3", "eval.py", "--model", "{model}"]))
        #expect(command.metric == "accuracy" && command.goal == .maximize)
        #expect(command.workingDirectory.standardizedFileURL.path == Fixtures.valid.standardizedFileURL.path)
        #expect(spec.rules[0].rank?.value == .tucker(out: .count(16), in: .fraction(0.5)))
        #expect(spec.rules[0].fit.value == .activations)
        #expect(spec.rules[0].match.kernel?.value == [3, 3])
        #expect(spec.rules[0].match.minParams?.value == 1000)
        #expect(spec.rules[1].rank?.value == .search(RankSearchRange(min: 2, max: 32, step: 2, multipleOf: 2)))
        #expect(spec.rules[2].method.value == .keep && spec.rules[2].rank == nil)
        #expect(spec.rules[3].allowsGrowth && !spec.rules[0].allowsGrowth)
        #expect(spec.search.policy.value == .greedy && spec.search.target?.value == 4 && spec.search.jobs?.value == 2)
        #expect(spec.accept.value == .maxDrop(0.01), "the pipeline overrides the recipe's accept")

        #expect(loaded.variants.map(\.variant) == ["strict", "small"])
        let strict = try #require(loaded.spec(variant: "strict"))
        #expect(strict.accept.value == .maxDrop(0.001))
        #expect(strict.rules == spec.rules)
        let small = try #require(loaded.spec(variant: "small"))
        #expect(small.data.searchSubset?.value == 64, "a variant's vars reach the pipeline's values")
        #expect(small.rules.first?.origin == .variant("small"))
        #expect(small.rules.count == spec.rules.count + 1)
        #expect(small.search.target?.value == 8 && small.search.policy.value == .greedy)
        #expect(small.accept.value == .maxDrop(0.01))
    }

    @Test func recipesSupplyDefaultsInPrecedenceOrder() throws {
        let spec = try load("recipe-only-rules.yaml").spec
        #expect(spec.accept.value == .maxRelativeDrop(0.01))
        #expect(spec.search.jobs?.value == 2)
        #expect(spec.rules.count == 3)
        #expect(spec.metric.value == .top1)
        #expect(spec.export.onnx.value.lastPathComponent == "recipe-only-rules.onnx")
    }

    @Test func variantsGetTheirOwnDefaultOutputs() throws {
        let loaded = try load("metrics.yaml")
        #expect(loaded.spec.metric.value == .topK(3))
        let shell = try #require(loaded.spec(variant: "shell-metric"))
        guard case .command(let command) = shell.metric.value else {
            Issue.record("expected a command metric")
            return
        }
        #expect(command.command == .shell("./evaluate.sh --quiet") && command.goal == .minimize)
        #expect(!shell.metric.value.higherIsBetter)
        #expect(shell.export.onnx.value.lastPathComponent == "metrics-shell-metric.onnx")
        let mse = try #require(loaded.spec(variant: "mse"))
        #expect(!mse.data.eval.hasLabels)
    }

    @Test func encodingLeavesPositionsOut() throws {
        let spec = try load("sketch.yaml").spec
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(spec.rules), as: UTF8.self)
        #expect(!json.contains("line") && !json.contains("column"))
        let decoded = try JSONDecoder().decode([Rule].self, from: try encoder.encode(spec.rules))
        #expect(decoded.map(\.method.value) == spec.rules.map(\.method.value))
        #expect(decoded.map(\.rank?.value) == spec.rules.map(\.rank?.value))
        // Moving a rule to another line changes nothing in its encoding.
        var moved = spec.rules[0]
        moved.location.line += 10
        #expect(try encoder.encode(moved) == encoder.encode(spec.rules[0]))
    }

    @Test func loadsFromSourceText() throws {
        let text = """
        shrink: 1
        name: from-text
        vars: { v: 3, literal: x }
        model: ../assets/model.onnx
        data: { eval: ../assets/val.npz }
        accept: { max_drop: 0.5 }
        rules:
          - match: { name: "$${literal}-${literal}" }
            method: svd
            rank: ${v}
        """
        let spec = try loader.load(source: text, file: Fixtures.valid.appendingPathComponent("unsaved.yaml")).spec
        #expect(spec.rules[0].match.name?.value == "${literal}-x")
        #expect(spec.rules[0].rank?.value == .count(3))
        #expect(spec.vars["v"]?.value == "3")
        let numeric = try loader.load(source: text.replacingOccurrences(of: "name: from-text", with: "name: 1.50"),
                                      file: Fixtures.valid.appendingPathComponent("unsaved.yaml")).spec
        #expect(numeric.name.value == "1.50", "a number in a string position keeps its spelling")
    }

    @Test func diagnosticFormatting() {
        let location = SourceLocation(file: URL(fileURLWithPath: "/repo/pipelines/a.yaml"), line: 3, column: 7)
        let diagnostic = Diagnostic(.error, "unknown method `tucker`", at: location, hint: "did you mean `tucker2`?")
        #expect(diagnostic.formatted(relativeTo: URL(fileURLWithPath: "/repo")) ==
            "pipelines/a.yaml:3:7: error: unknown method `tucker`\npipelines/a.yaml:3:7: note: did you mean `tucker2`?")
        #expect(Diagnostic(.warning, "w", at: location).formatted(relativeTo: URL(fileURLWithPath: "/elsewhere")) ==
            "/repo/pipelines/a.yaml:3:7: warning: w")
        let error = PipelineLoadError(diagnostics: [diagnostic])
        #expect(error.formatted(relativeTo: URL(fileURLWithPath: "/repo/pipelines")).hasPrefix("a.yaml:3:7: error:"))
    }

    @Test(arguments: [
        ("tucker", "tucker2"), ("SVD", "svd"), ("metrik", "metric"), ("spatial_svd", "spatial-svd"), ("serch", "search"),
    ])
    func suggestionsFindTypos(word: String, expected: String) {
        let candidates = ["cp", "cp4", "tucker2", "spatial-svd", "svd", "keep", "metric", "search"]
        #expect(suggestion(for: word, among: candidates) == "did you mean `\(expected)`?")
    }

    @Test func suggestionsStayQuietForStrangers() {
        #expect(suggestion(for: "Linear", among: ["Conv", "Gemm", "MatMul"]) == nil)
        #expect(editDistance("kitten", "sitting") == 3)
        #expect(editDistance("", "abc") == 3)
    }

    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
    ])
    func sha256KnownVectors(input: String, digest: String) {
        #expect(SHA256Digest.hex(input) == digest)
    }

    @Test func sha256MillionA() {
        #expect(SHA256Digest.hex(String(repeating: "a", count: 1_000_000)) ==
            "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    @Test(arguments: [
        ("fc*", "fc1", true), ("fc*", "fc", true), ("fc*", "xfc1", false), ("conv?", "conv1", true),
        ("conv?", "conv12", false), ("*", "", true), ("*.weight", "layer.weight", true), ("a*b*c", "aXbYc", true),
        ("a*b*c", "aXbY", false), ("?", "", false), ("*", "*a", true), ("layer.?", "layer.3", true),
    ])
    func globs(pattern: String, name: String, matches: Bool) {
        #expect(globMatch(pattern: pattern, name: name) == matches)
    }

    @Test(arguments: [
        ("8", ScalarValue.int(8)), ("-3", .int(-3)), ("1_000", .int(1000)), ("0.5", .float(0.5)), ("1e3", .float(1000)),
        (".5", .float(0.5)), ("yes", .string("yes")), ("0x10", .string("0x10")), ("~", .null), ("true", .bool(true)),
        ("5x5", .string("5x5")), ("4x", .string("4x")), ("1.2.3", .string("1.2.3")), ("nan", .string("nan")),
    ])
    func plainScalarTyping(text: String, expected: ScalarValue) {
        #expect(typePlainScalar(text) == expected)
    }
}

/// The complete example of docs/pipeline-reference.md is a real pipeline: saved where the page
/// says, it loads without an error or a warning against the repository's own files.
@Suite struct DocumentationExampleTests {
    @Test func completeExampleLoads() throws {
        let repo = Fixtures.root.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let page = try String(contentsOf: repo.appendingPathComponent("docs/pipeline-reference.md"), encoding: .utf8)
        let section = try #require(page.range(of: "## A complete example"))
        let rest = page[section.upperBound...]
        let open = try #require(rest.range(of: "```yaml\n"))
        let close = try #require(rest[open.upperBound...].range(of: "```"))
        let yaml = String(rest[open.upperBound..<close.lowerBound])
        let loaded = try Fixtures.loader().load(source: yaml, file: repo.appendingPathComponent("pipelines/lenet-digits.yaml"))
        #expect(loaded.diagnostics.filter { $0.severity != .note }.isEmpty, "\(loaded.diagnostics)")
        #expect(loaded.variants.map(\.variant) == ["strict"])
        #expect(FileManager.default.fileExists(atPath: loaded.spec.model.value.path))
    }
}

/// The label-free metrics' spellings, and what they refuse.
@Suite struct FidelityMetricSpecTests {
    func load(_ metric: String) throws -> LoadedPipeline {
        try Fixtures.loader().load(source: "shrink: 1\nname: m\nmodel: ../assets/model.onnx\ndata: { eval: ../assets/val.npz }\naccept: { max_drop: 0.1 }\nmetric: \(metric)\n",
                                   file: Fixtures.valid.appendingPathComponent("fidelity.yaml"))
    }

    @Test(arguments: [
        ("agreement", FidelityMetric(measure: .agreement)),
        ("relative_l2", FidelityMetric(measure: .relativeL2)),
        ("cosine", FidelityMetric(measure: .cosine)),
        ("{ agreement: { axis: -1, output: logits } }", FidelityMetric(measure: .agreement, output: "logits", axis: -1)),
        ("{ agreement: { decode: ctc } }", FidelityMetric(measure: .agreement, decodeCTC: true)),
        ("{ relative_l2: { output: emb } }", FidelityMetric(measure: .relativeL2, output: "emb")),
        ("{ cosine: {} }", FidelityMetric(measure: .cosine)),
    ])
    func spellings(_ text: String, _ expected: FidelityMetric) throws {
        let spec = try load(text).spec
        #expect(spec.metric.value == .fidelity(expected))
        #expect(spec.metric.value.higherIsBetter == (expected.measure != .relativeL2))
        #expect(!spec.metric.value.needsLabels)
    }

    @Test(arguments: ["{ relative_l2: { axis: 1 } }", "{ agreement: { axis: 0 } }", "{ agreement: { decode: beam } }",
                      "{ cosine: { decode: ctc } }", "{ agreement: {}, topk: 3 }", "agreemnt"])
    func refusals(_ text: String) {
        #expect(throws: PipelineLoadError.self) { try load(text) }
    }
}
