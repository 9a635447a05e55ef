import Foundation
import Testing
@testable import ShrinkPipeline

/// Imports in throwaway repositories: precedence, diamonds, cycles, the repository boundary and
/// git recipes fetched from a local repository.
@Suite struct ImportTests {
    static let header = """
    model: model.onnx
    data: { eval: val.npz }

    """

    /// A repository with the placeholder model and data beside `pipelines/`.
    func repository() throws -> TempDir {
        let dir = TempDir()
        try dir.git("init", "-q")
        try dir.write("pipelines/model.onnx", "x")
        try dir.write("pipelines/val.npz", "x")
        return dir
    }

    @Test func importingFileWinsAndDiamondsAreReadOnce() throws {
        let dir = try repository()
        let root = try dir.write("pipelines/p.yaml", """
        shrink: 1
        name: p
        imports: [b.yaml, c.yaml]
        \(Self.header)
        rules:
          - { match: { name: p }, method: svd }
        """)
        try dir.write("pipelines/b.yaml", """
        shrink: 1
        imports: [d.yaml]
        metric: top5
        rules:
          - { match: { name: b }, method: svd }
        """)
        try dir.write("pipelines/c.yaml", """
        shrink: 1
        imports: [d.yaml]
        metric: mse
        accept: { max_drop: 0.2 }
        search: { objective: params }
        rules:
          - { match: { name: c }, method: svd }
        """)
        try dir.write("pipelines/d.yaml", """
        shrink: 1
        accept: { max_drop: 0.3 }
        search: { objective: macs, policy: binary }
        rules:
          - { match: { name: d }, method: svd }
        """)
        let loaded = try Fixtures.loader().load(file: root)
        let spec = loaded.spec
        #expect(spec.rules.map { $0.match.name?.value } == ["p", "b", "c", "d"])
        #expect(spec.metric.value == .top5, "b is listed before c")
        #expect(spec.accept.value == .maxDrop(0.2), "c imports d, so c wins over d")
        #expect(spec.search.objective.value == .params)
        #expect(spec.search.policy.value == .binary, "settings merge key by key")
        #expect(loaded.files.map(\.url.lastPathComponent) == ["p.yaml", "b.yaml", "d.yaml", "c.yaml"])
    }

    @Test func cyclesAreNamed() throws {
        let dir = try repository()
        let root = try dir.write("pipelines/a.yaml", "shrink: 1\nname: a\nimports: [b.yaml]\n\(Self.header)accept: { max_drop: 0.1 }\nrules: [{ method: svd }]\n")
        try dir.write("pipelines/b.yaml", "shrink: 1\nimports: [a.yaml]\n")
        let lines = renderedDiagnostics(loading: root, relativeTo: dir.url.appendingPathComponent("pipelines"))
        #expect(lines == ["b.yaml:2:11: error: import cycle: a.yaml → b.yaml → a.yaml"])
    }

    @Test func selfImportIsACycle() throws {
        let dir = try repository()
        let root = try dir.write("pipelines/a.yaml", "shrink: 1\nname: a\nimports: [./a.yaml]\n\(Self.header)accept: { max_drop: 0.1 }\nrules: [{ method: svd }]\n")
        let lines = renderedDiagnostics(loading: root, relativeTo: dir.url.appendingPathComponent("pipelines"))
        #expect(lines == ["a.yaml:3:11: error: import cycle: a.yaml → a.yaml"])
    }

    @Test func importsStayInsideTheRepository() throws {
        let dir = try repository()
        try dir.write("outside.yaml", "shrink: 1\n")  // above the pipeline's folder but inside the repository: allowed
        let outer = TempDir()
        try outer.write("evil.yaml", "shrink: 1\n")
        let relativeToOuter = relativePath(outer.url.appendingPathComponent("evil.yaml"), from: dir.url.appendingPathComponent("pipelines"))
        let root = try dir.write("pipelines/p.yaml", """
        shrink: 1
        name: p
        imports: [../outside.yaml, "\(relativeToOuter)"]
        \(Self.header)accept: { max_drop: 0.1 }
        rules: [{ method: svd }]
        """)
        let lines = renderedDiagnostics(loading: root, relativeTo: dir.url.appendingPathComponent("pipelines"))
        #expect(lines.count == 2)
        #expect(lines.first?.hasPrefix("p.yaml:3:28: error: import `\(relativeToOuter)` is outside the repository") == true)
    }

    @Test func symlinksCannotLeaveTheRepository() throws {
        let dir = try repository()
        let outer = TempDir()
        let target = try outer.write("evil.yaml", "shrink: 1\n")
        try FileManager.default.createSymbolicLink(at: dir.url.appendingPathComponent("pipelines/link.yaml"),
                                                   withDestinationURL: target)
        let root = try dir.write("pipelines/p.yaml", "shrink: 1\nname: p\nimports: [link.yaml]\n\(Self.header)accept: { max_drop: 0.1 }\nrules: [{ method: svd }]\n")
        let lines = renderedDiagnostics(loading: root, relativeTo: dir.url.appendingPathComponent("pipelines"))
        #expect(lines.first == "p.yaml:3:11: error: import `link.yaml` is outside the repository")
    }

    @Test func withoutARepositoryImportsStayBesideThePipeline() throws {
        let dir = TempDir()  // no git init
        try dir.write("recipes/r.yaml", "shrink: 1\n")
        try dir.write("pipelines/model.onnx", "x")
        try dir.write("pipelines/val.npz", "x")
        try dir.write("pipelines/sub/ok.yaml", "shrink: 1\nrules: [{ method: keep }]\n")
        let root = try dir.write("pipelines/p.yaml", "shrink: 1\nname: p\nimports: [sub/ok.yaml, ../recipes/r.yaml]\n\(Self.header)accept: { max_drop: 0.1 }\n")
        let lines = renderedDiagnostics(loading: root, relativeTo: dir.url.appendingPathComponent("pipelines"))
        #expect(lines.first == "p.yaml:3:24: error: import `../recipes/r.yaml` is outside the repository")
    }

    /// Makes a recipe repository with two commits; returns (repository, first commit, second commit).
    func recipeRepository() throws -> (TempDir, String, String) {
        let repo = TempDir()
        try repo.git("init", "-q")
        try repo.write("recipes/cnn.yaml", """
        shrink: 1
        imports: [../common/base.yaml]
        rules:
          - match: { op: Conv, kernel: 5x5 }
            method: cp
            rank: 8
        """)
        try repo.write("common/base.yaml", "shrink: 1\naccept: { max_drop: 0.02 }\nmetric: top5\n")
        try repo.git("add", ".")
        try repo.git("commit", "-q", "-m", "recipes")
        let first = try repo.git("rev-parse", "HEAD")
        try repo.write("recipes/cnn.yaml", "shrink: 1\nrules: [{ method: svd, match: { op: Gemm } }]\n")
        try repo.git("commit", "-q", "-am", "change")
        let second = try repo.git("rev-parse", "HEAD")
        return (repo, first, second)
    }

    @Test func gitRecipesAreFetchedPinnedAndCached() throws {
        let (repo, first, second) = try recipeRepository()
        let dir = try repository()
        let cache = dir.url.appendingPathComponent(".shrink/recipes")
        let loader = PipelineLoader(gitCache: cache)
        let root = try dir.write("pipelines/p.yaml", """
        shrink: 1
        name: p
        imports:
          - { git: "\(repo.url.path)", rev: \(first), path: recipes/cnn.yaml }
        \(Self.header)
        """)
        let loaded = try loader.load(file: root)
        let spec = loaded.spec
        #expect(spec.rules.count == 1 && spec.rules[0].method.value == .cp, "the pinned commit, not the newer one")
        #expect(spec.accept.value == .maxDrop(0.02), "a relative import inside a git recipe reads the same commit")
        #expect(spec.metric.value == .top5)
        #expect(loaded.gitRecipes.map(\.path) == ["recipes/cnn.yaml", "common/base.yaml"])
        for recipe in loaded.gitRecipes {
            #expect(recipe.rev == first && recipe.url == repo.url.path)
            let content = try Data(contentsOf: recipe.cachedFile)
            #expect(recipe.digest == SHA256Digest.hex(content))
            #expect(recipe.cachedFile.path.hasPrefix(cache.appendingPathComponent(SHA256Digest.hex(repo.url.path + "\n" + first)).path))
        }
        #expect(loaded.files.count == 3 && loaded.files[1].git?.path == "recipes/cnn.yaml")
        guard case .recipe(let file) = spec.rules[0].origin else {
            Issue.record("a git rule is a recipe rule")
            return
        }
        #expect(file == loaded.gitRecipes[0].cachedFile)

        // The cache serves later loads even when the repository is gone.
        try FileManager.default.removeItem(at: repo.url.appendingPathComponent(".git"))
        let again = try loader.load(file: root)
        #expect(again.gitRecipes.map(\.digest) == loaded.gitRecipes.map(\.digest))
        _ = second
    }

    @Test func gitFailuresAreDiagnostics() throws {
        let (repo, first, _) = try recipeRepository()
        let dir = try repository()
        let root = try dir.write("pipelines/p.yaml", """
        shrink: 1
        name: p
        imports:
          - { git: "\(repo.url.path)", rev: \(String(repeating: "0", count: 40)), path: recipes/cnn.yaml }
          - { git: "\(repo.url.path)", rev: \(first), path: recipes/none.yaml }
          - { git: "\(repo.url.path)", rev: \(first), path: ../escape.yaml }
        \(Self.header)accept: { max_drop: 0.1 }
        rules: [{ method: svd }]
        """)
        let lines = renderedDiagnostics(loading: root, relativeTo: dir.url.appendingPathComponent("pipelines"))
        #expect(lines.count == 3)
        #expect(lines[0].hasPrefix("p.yaml:4:12: error: commit `0000000000000000000000000000000000000000` is not in"))
        #expect(lines[1].hasPrefix("p.yaml:5:"), "\(lines)")
        #expect(lines[1].contains("error: no file `recipes/none.yaml` at commit `\(first.prefix(12))`"))
        #expect(lines[2].contains("error: `path` must be relative to the repository's top folder, found `../escape.yaml`"))
    }

    @Test func variantVariablesReachImportedFilesAndAreLabelled() throws {
        let dir = try repository()
        try dir.write("pipelines/r.yaml", "shrink: 1\nrules: [{ method: svd, rank: \"${r}\" }]\n")
        let root = try dir.write("pipelines/p.yaml", """
        shrink: 1
        name: p
        imports: [r.yaml]
        vars: { r: 8 }
        \(Self.header)accept: { max_drop: 0.1 }
        variants:
          quarter: { vars: { r: 0.25 } }
          broken: { vars: { r: lots } }
        """)
        let lines = renderedDiagnostics(loading: root, relativeTo: dir.url.appendingPathComponent("pipelines"))
        #expect(lines == [
            "r.yaml:2:30: error: `rank` must be an integer, a fraction in (0, 1], `search`, `{ energy: … }` or `{ search: … }`, found `lots` (in variant `broken`)",
        ])
        try dir.write("pipelines/p.yaml", String(decoding: try Data(contentsOf: root), as: UTF8.self)
            .replacingOccurrences(of: "  broken: { vars: { r: lots } }", with: ""))
        let loaded = try Fixtures.loader().load(file: root)
        #expect(loaded.spec.rules[0].rank?.value == .count(8))
        #expect(loaded.spec(variant: "quarter")?.rules[0].rank?.value == .fraction(0.25))
    }

    @Test func concurrentLoadsShareTheGitCache() async throws {
        let (repo, first, _) = try recipeRepository()
        let dir = try repository()
        let loader = PipelineLoader(gitCache: dir.url.appendingPathComponent(".shrink/recipes"))
        let root = try dir.write("pipelines/p.yaml", """
        shrink: 1
        name: p
        imports:
          - { git: "\(repo.url.path)", rev: \(first), path: recipes/cnn.yaml }
        \(Self.header)
        """)
        let digests = try await withThrowingTaskGroup(of: [String].self) { group in
            for _ in 0..<4 {
                group.addTask { try loader.load(file: root).gitRecipes.map(\.digest) }
            }
            return try await group.reduce(into: [[String]]()) { $0.append($1) }
        }
        #expect(digests.count == 4 && Set(digests).count == 1)
        let folders = try FileManager.default.contentsOfDirectory(atPath: dir.url.appendingPathComponent(".shrink/recipes").path)
        #expect(folders.count == 1, "one cache folder per (url, commit)")
        let inside = try FileManager.default.contentsOfDirectory(
            atPath: dir.url.appendingPathComponent(".shrink/recipes/\(folders[0])").path)
        #expect(inside.sorted() == ["files", "repo.git"], "no staging folders left behind")
    }
}
