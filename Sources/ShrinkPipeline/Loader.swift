import Foundation
import Yams

/// A YAML file the loader read, with its content, so the build system can fold the exact bytes
/// into stage keys and the lock file.
public struct SourceFile: Sendable, Hashable, Codable {
    /// Where it was read (for a git recipe: its copy in the recipe cache).
    public var url: URL
    /// The bytes read.
    public var content: Data
    /// SHA-256 (hex) of `content`.
    public var digest: String
    /// Set when the file came from a git import.
    public var git: GitRecipe?

    /// Creates a record.
    public init(url: URL, content: Data, digest: String, git: GitRecipe?) {
        self.url = url
        self.content = content
        self.digest = digest
        self.git = git
    }
}

/// Loading failed: at least one error. Carries every diagnostic found (warnings too).
public struct PipelineLoadError: Error, Sendable, CustomStringConvertible {
    /// All diagnostics, errors first within each position, in reading order.
    public var diagnostics: [Diagnostic]

    /// Creates the error.
    public init(diagnostics: [Diagnostic]) { self.diagnostics = diagnostics }

    /// The diagnostics, one per line, paths relative to the current directory.
    public var description: String { diagnostics.formatted(relativeTo: currentDirectory()) }

    /// The diagnostics, one per line, paths relative to `base`.
    public func formatted(relativeTo base: URL?) -> String { diagnostics.formatted(relativeTo: base) }
}

/// A pipeline that loaded without errors.
public struct LoadedPipeline: Sendable {
    /// The pipeline itself (no variant).
    public var spec: PipelineSpec
    /// One spec per variant, in the order the file lists them.
    public var variants: [PipelineSpec]
    /// Every YAML file read (the pipeline first), with content and digest.
    public var files: [SourceFile]
    /// The git recipes among `files`, for the lock file.
    public var gitRecipes: [GitRecipe]
    /// Warnings and notes (there are no errors, or loading would have thrown).
    public var diagnostics: [Diagnostic]

    /// The pipeline followed by its variants.
    public var allSpecs: [PipelineSpec] { [spec] + variants }

    /// The spec for a variant name, or the pipeline itself for `nil`.
    public func spec(variant: String?) -> PipelineSpec? {
        guard let variant else { return spec }
        return variants.first { $0.variant == variant }
    }

    /// Assigns layers for the pipeline and every variant. A rule that matches nothing is reported
    /// once, and only if it matches nothing in every spec that contains it: a pipeline rule that a
    /// variant's own rules shadow is not a mistake.
    public func assign(layers: [LayerDescription], applicability: MethodApplicability = .dslDefault) -> PipelineAssignment {
        let specs = allSpecs
        let outcomes = specs.map { $0.matchRules(layers: layers, applicability: applicability) }
        var perSpec: [LayerAssignments] = []
        var diagnostics: [Diagnostic] = []
        var seen = Set<Diagnostic>()
        // Rule identity across specs is its position in the files.
        var containing: [SourceLocation: Int] = [:]
        var unmatched: [SourceLocation: Int] = [:]
        for (spec, outcome) in zip(specs, outcomes) {
            for rule in spec.rules { containing[rule.location, default: 0] += 1 }
            for index in outcome.unmatched { unmatched[spec.rules[index].location, default: 0] += 1 }
        }
        for (spec, outcome) in zip(specs, outcomes) {
            let own = spec.assign(layers: layers, applicability: applicability)
            perSpec.append(own)
            var byRule = outcome.inapplicable
            for index in outcome.unmatched {
                let location = spec.rules[index].location
                if unmatched[location] == containing[location] {
                    byRule.append((index, spec.unmatchedDiagnostic(ruleIndex: index, layers: layers, outcome: outcome)))
                }
            }
            for (_, diagnostic) in byRule.sorted(by: { $0.0 < $1.0 }) where seen.insert(diagnostic).inserted {
                diagnostics.append(diagnostic)
            }
        }
        return PipelineAssignment(
            pipeline: perSpec[0],
            variants: Dictionary(uniqueKeysWithValues: zip(variants.compactMap(\.variant), perSpec.dropFirst())),
            diagnostics: diagnostics)
    }
}

/// Layer assignments for a pipeline and its variants.
public struct PipelineAssignment: Sendable {
    /// The pipeline's own assignment (its diagnostics are for the pipeline alone).
    public var pipeline: LayerAssignments
    /// Per variant name.
    public var variants: [String: LayerAssignments]
    /// The diagnostics to show for the whole file (see `LoadedPipeline.assign(layers:)`).
    public var diagnostics: [Diagnostic]

    /// Whether any diagnostic is an error.
    public var hasErrors: Bool { diagnostics.containsErrors }
}

/// Loads pipeline files: parses, follows imports (local and git), substitutes variables, applies
/// variants, validates, and resolves everything into `PipelineSpec` values.
public struct PipelineLoader: Sendable {
    /// Where git recipes are fetched to (e.g. `.shrink/recipes`); one folder per (URL, commit).
    public var gitCache: URL

    /// Creates a loader.
    public init(gitCache: URL) { self.gitCache = gitCache }

    /// Loads the pipeline at `file`. Throws with every diagnostic when there is any error.
    public func load(file: URL) throws(PipelineLoadError) -> LoadedPipeline {
        let url = file.standardizedFileURL
        guard let content = FileManager.default.contents(atPath: url.path) else {
            throw PipelineLoadError(diagnostics: [
                Diagnostic(.error, "pipeline file not found or unreadable", at: SourceLocation(file: url, line: 1, column: 1)),
            ])
        }
        return try load(content: content, file: url)
    }

    /// Loads a pipeline from text as though it were the file `file` (whose folder anchors relative
    /// paths); for editors with unsaved buffers, and for tests.
    public func load(source: String, file: URL) throws(PipelineLoadError) -> LoadedPipeline {
        try load(content: Data(source.utf8), file: file.standardizedFileURL)
    }

    private func load(content: Data, file: URL) throws(PipelineLoadError) -> LoadedPipeline {
        let session = LoadSession(root: file, fetcher: GitFetcher(cache: gitCache))
        let result = session.run(content: content)
        let diagnostics = session.finalDiagnostics()
        guard let result, !diagnostics.containsErrors else { throw PipelineLoadError(diagnostics: diagnostics) }
        return LoadedPipeline(spec: result.base, variants: result.variants, files: session.sources,
                              gitRecipes: session.gitRecipes, diagnostics: diagnostics)
    }
}

// MARK: - One load

private struct GitContext {
    var repo: URL
    var url: String
    var rev: String
    var path: String
}

private struct LoadedFile {
    var id: String
    var url: URL
    var display: String
    var isRoot: Bool
    var git: GitContext?
    var fields: Fields?
    var vars: [(name: String, value: Variable)] = []
    var children: [String] = []

    var directory: URL { url.deletingLastPathComponent() }
}

private final class LoadSession {
    let rootURL: URL
    let rootDirectory: URL
    let repositoryRoot: URL
    let fetcher: GitFetcher
    let sink = DiagnosticSink()
    var files: [String: LoadedFile] = [:]
    var sources: [SourceFile] = []
    var gitRecipes: [GitRecipe] = []
    var rootFields: Fields?

    init(root: URL, fetcher: GitFetcher) {
        rootURL = root
        rootDirectory = root.deletingLastPathComponent()
        repositoryRoot = findRepositoryRoot(from: rootDirectory) ?? rootDirectory
        self.fetcher = fetcher
    }

    func finalDiagnostics() -> [Diagnostic] {
        // Files are re-decoded per variant, so identical findings are merged here.
        var seen = Set<Diagnostic>()
        let unique = sink.items.filter { seen.insert($0).inserted }
        let fileRank = Dictionary(sources.enumerated().map { ($0.element.url.path, $0.offset) }, uniquingKeysWith: { a, _ in a })
        return unique.enumerated().sorted { a, b in
            let la = a.element.location, lb = b.element.location
            let fa = fileRank[la.file.path] ?? Int.max, fb = fileRank[lb.file.path] ?? Int.max
            if fa != fb { return fa < fb }
            if la.file.path != lb.file.path { return la.file.path < lb.file.path }
            if (la.line, la.column) != (lb.line, lb.column) { return (la.line, la.column) < (lb.line, lb.column) }
            return a.offset < b.offset
        }.map(\.element)
    }

    func run(content: Data) -> (base: PipelineSpec, variants: [PipelineSpec])? {
        let rootID = identity(of: rootURL)
        visit(LoadedFile(id: rootID, url: rootURL, display: rootURL.lastPathComponent, isRoot: true), content: content,
              stack: [(rootID, rootURL.lastPathComponent)])
        guard let root = files[rootID], let fields = root.fields else { return nil }
        rootFields = fields

        let order = precedenceOrder(from: rootID)
        var baseVars: [String: Variable] = [:]
        for id in order {
            for (name, value) in files[id]?.vars ?? [] where baseVars[name] == nil { baseVars[name] = value }
        }

        let basePartials = decodeAll(order: order, vars: baseVars)
        guard let base = finish(partials: basePartials.map(\.partial), fileOrigins: basePartials.map(\.id),
                                variant: nil, vars: baseVars) else {
            // Still check the variants so their problems are reported in the same run.
            _ = variants(order: order, baseVars: baseVars, basePartials: basePartials)
            return nil
        }
        guard let variantSpecs = variants(order: order, baseVars: baseVars, basePartials: basePartials) else { return nil }
        checkDistinctOutputs(base: base, variants: variantSpecs)
        if !isValidPipelineName(base.name.value) {
            sink.error("`name` must be letters, digits, `-`, `_` and `.`, starting with a letter or digit (it names output files and stages); found `\(base.name.value)`",
                       at: base.name.location)
        }
        let outputCheck = OutputPathCheck(repository: repositoryRoot, base: rootDirectory,
                                          isRepository: findRepositoryRoot(from: rootDirectory) != nil)
        for diagnostic in outputCheck.diagnostics(specs: [base] + variantSpecs.map(\.spec), sources: sources,
                                                  lockFile: rootURL.deletingPathExtension().appendingPathExtension("lock"),
                                                  lockLocation: fields.location) {
            sink.add(diagnostic)
        }
        if base.rules.isEmpty, !files.values.contains(where: { writesRules($0.fields) }) {
            sink.warning("the pipeline has no rules, so every layer is kept", at: fields.location,
                         hint: "add `rules:` or import a recipe")
        }
        return (base, variantSpecs.map(\.spec))
    }

    // MARK: Reading files and imports

    func visit(_ file: LoadedFile, content: Data, stack: [(id: String, display: String)]) {
        var file = file
        sources.append(SourceFile(url: file.url, content: content, digest: SHA256Digest.hex(content),
                                  git: gitRecipes.first { $0.cachedFile == file.url }))
        files[file.id] = file
        guard let node = parseYAML(content, file: file.url, sink: sink) else { return }
        let what = file.isRoot ? "the pipeline" : "the recipe"
        guard let fields = Fields(node, what: what, allowed: Keys.topLevel, file: file.url, sink: sink) else { return }
        file.fields = fields
        checkVersion(fields, file: file)
        if !file.isRoot, let location = fields.keyLocation("variants", file: file.url) {
            sink.error("`variants` belong in the pipeline being run, not in a recipe", at: location)
        }
        if let varsNode = fields["vars"] { file.vars = readVars(varsNode, file: file.url) }
        files[file.id] = file
        guard let importsNode = fields["imports"] else { return }
        let entries: [Node]
        switch importsNode {
        case .sequence(let items): entries = Array(items)
        case .scalar where isNullNode(importsNode): entries = []
        default:
            sink.error("`imports` must be a list, found \(describe(importsNode))", at: nodeLocation(importsNode, file: file.url))
            return
        }
        for entry in entries {
            guard let (child, childContent) = resolveImport(entry, from: file) else { continue }
            let location = nodeLocation(entry, file: file.url)
            if let start = stack.firstIndex(where: { $0.id == child.id }) {
                let cycle = stack[start...].map(\.display) + [child.display]
                sink.error("import cycle: \(cycle.joined(separator: " → "))", at: location)
                continue
            }
            if file.children.contains(child.id) {
                sink.warning("`\(child.display)` is imported twice", at: location)
                continue
            }
            file.children.append(child.id)
            files[file.id] = file
            if files[child.id] != nil { continue }  // a diamond: already read through another import
            visit(child, content: childContent, stack: stack + [(child.id, child.display)])
        }
    }

    private func checkVersion(_ fields: Fields, file: LoadedFile) {
        guard let node = fields["shrink"] else {
            sink.error("missing `shrink: \(supportedSchemaVersion)`, the schema version", at: fields.location)
            return
        }
        let location = nodeLocation(node, file: file.url)
        if case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any,
           case .int(let version) = typePlainScalar(scalar.string) {
            if version != supportedSchemaVersion {
                sink.error("unsupported schema version `\(version)`; this shrink reads `shrink: \(supportedSchemaVersion)`", at: location)
            }
            return
        }
        sink.error("`shrink` must be the schema version `\(supportedSchemaVersion)`, found \(describe(node))", at: location)
    }

    private func readVars(_ node: Node, file: URL) -> [(name: String, value: Variable)] {
        if isNullNode(node) { return [] }
        guard case .mapping(let mapping) = node else {
            sink.error("`vars` must be a mapping of names to values, found \(describe(node))", at: nodeLocation(node, file: file))
            return []
        }
        var result: [(name: String, value: Variable)] = []
        for (key, value) in mapping {
            let keyLocation = nodeLocation(key, file: file)
            guard case .scalar(let keyScalar) = key, isVariableName(keyScalar.string) else {
                sink.error("variable names are letters, digits and `_`, not starting with a digit; found \(describe(key))",
                           at: keyLocation)
                continue
            }
            let valueLocation = nodeLocation(value, file: file)
            guard case .scalar(let scalar) = value else {
                sink.error("variable `\(keyScalar.string)` must be a string or number, found \(describe(value))", at: valueLocation)
                continue
            }
            let quoted = scalar.style != .plain && scalar.style != .any
            let typed = quoted ? ScalarValue.string(scalar.string) : typePlainScalar(scalar.string)
            if case .null = typed {
                sink.error("variable `\(keyScalar.string)` has no value", at: valueLocation)
                continue
            }
            result.append((keyScalar.string, Variable(value: Located(typed.substitutionText, at: valueLocation), typed: typed)))
        }
        return result
    }

    /// Resolves one `imports` entry to a file and its content; reports and returns nil on failure.
    private func resolveImport(_ entry: Node, from parent: LoadedFile) -> (LoadedFile, Data)? {
        let location = nodeLocation(entry, file: parent.url)
        switch entry {
        case .scalar:
            let decoder = FileDecoder(file: parent.url, directory: parent.directory, vars: [:], sink: sink)
            guard let text = decoder.string(entry, "an import") else { return nil }
            if text.value.hasPrefix("/") {
                sink.error("import `\(text.value)` must be a path relative to this file", at: location,
                           hint: "recipes from elsewhere are imported with `{ git: URL, rev: COMMIT, path: FILE }`")
                return nil
            }
            if let git = parent.git {
                let folder = (git.path as NSString).deletingLastPathComponent
                guard let path = normalizeRepositoryPath(folder.isEmpty ? text.value : folder + "/" + text.value) else {
                    sink.error("import `\(text.value)` is outside the repository `\(git.url)`", at: location)
                    return nil
                }
                return gitFile(url: git.url, rev: git.rev, path: path, repo: git.repo, at: location, written: text.value)
            }
            return localFile(text.value, from: parent, at: location)
        case .mapping:
            let fields = Fields(entry, what: "a git import", allowed: Keys.gitImport, file: parent.url, sink: sink)
            guard let fields else { return nil }
            let decoder = FileDecoder(file: parent.url, directory: parent.directory, vars: [:], sink: sink)
            var missing = false
            for key in Keys.gitImport where !fields.has(key) {
                sink.error("a git import needs `\(key)`", at: location, hint: "write `{ git: URL, rev: COMMIT, path: FILE }`")
                missing = true
            }
            let url = fields["git"].flatMap { decoder.string($0, "`git`") }
            let rev = fields["rev"].flatMap { decoder.string($0, "`rev`") }
            let path = fields["path"].flatMap { decoder.string($0, "`path`") }
            guard !missing, let url, let rev, let path else { return nil }
            let hex = rev.value.lowercased()
            guard (hex.count == 40 || hex.count == 64), hex.allSatisfy(\.isHexDigit) else {
                sink.error("`rev` must be a full commit hash, found `\(rev.value)`", at: rev.location,
                           hint: "branches and tags move; pin the commit (`git rev-parse \(rev.value)`)")
                return nil
            }
            if url.value.hasPrefix("-") {
                sink.error("`git` must be a repository URL, found `\(url.value)`", at: url.location)
                return nil
            }
            guard !path.value.hasPrefix("/"), let normalized = normalizeRepositoryPath(path.value) else {
                sink.error("`path` must be relative to the repository's top folder, found `\(path.value)`", at: path.location)
                return nil
            }
            let repositoryURL = absoluteGitURL(url.value, relativeTo: parent.directory)
            let repo: URL
            do {
                repo = try fetcher.fetch(url: repositoryURL, rev: hex)
            } catch {
                sink.error(error.message, at: url.location)
                return nil
            }
            return gitFile(url: repositoryURL, rev: hex, path: normalized, repo: repo, at: path.location, written: path.value)
        default:
            sink.error("an import must be a relative path or `{ git: URL, rev: COMMIT, path: FILE }`, found \(describe(entry))",
                       at: location)
            return nil
        }
    }

    private func localFile(_ written: String, from parent: LoadedFile, at location: SourceLocation) -> (LoadedFile, Data)? {
        let url = resolve(written, against: parent.directory)
        let real = url.resolvingSymlinksInPath()
        let rootPath = repositoryRoot.resolvingSymlinksInPath().path
        guard real.path == rootPath || real.path.hasPrefix(rootPath.hasSuffix("/") ? rootPath : rootPath + "/") else {
            sink.error("import `\(written)` is outside the repository", at: location,
                       hint: "recipes from elsewhere are imported with `{ git: URL, rev: COMMIT, path: FILE }`")
            return nil
        }
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue else {
            sink.error("imported file not found: `\(written)`", at: location)
            return nil
        }
        guard let content = FileManager.default.contents(atPath: url.path) else {
            sink.error("cannot read imported file `\(written)`", at: location)
            return nil
        }
        let file = LoadedFile(id: identity(of: url), url: url, display: relativePath(url, from: rootDirectory),
                              isRoot: false, git: nil)
        return (file, content)
    }

    private func gitFile(url: String, rev: String, path: String, repo: URL, at location: SourceLocation,
                         written: String) -> (LoadedFile, Data)? {
        guard let content = fetcher.show(repo: repo, rev: rev, path: path) else {
            sink.error("no file `\(path)` at commit `\(rev.prefix(12))` of `\(url)`", at: location)
            return nil
        }
        let cached = fetcher.materialize(url: url, rev: rev, path: path, content: content)
        let id = "git:\(url)@\(rev):\(path)"
        if !gitRecipes.contains(where: { $0.cachedFile == cached }) {
            gitRecipes.append(GitRecipe(url: url, rev: rev, path: path, digest: SHA256Digest.hex(content), cachedFile: cached))
        }
        let file = LoadedFile(id: id, url: cached, display: "\(path)@\(rev.prefix(12))", isRoot: false,
                              git: GitContext(repo: repo, url: url, rev: rev, path: path))
        return (file, content)
    }

    /// Each file before the files it imports, siblings in the order listed: a depth-first walk
    /// over the imports in reverse, reversed. A file reached twice (a diamond) appears once, after
    /// every file that imports it, so an importing file always wins.
    func precedenceOrder(from root: String) -> [String] {
        var visited = Set<String>()
        var postorder: [String] = []
        // Explicit stack: import chains come from user files and must not recurse unboundedly.
        var stack: [(id: String, expanded: Bool)] = [(root, false)]
        while let (id, expanded) = stack.popLast() {
            if expanded { postorder.append(id); continue }
            guard visited.insert(id).inserted else { continue }
            stack.append((id, true))
            for child in (files[id]?.children ?? []) where !visited.contains(child) {
                stack.append((child, false))
            }
        }
        return postorder.reversed()
    }

    // MARK: Decoding and merging

    struct DecodedFile {
        var id: String
        var partial: PartialSpec
    }

    func decodeAll(order: [String], vars: [String: Variable], into sink: DiagnosticSink? = nil) -> [DecodedFile] {
        let sink = sink ?? self.sink
        return order.compactMap { id in
            guard let file = files[id], let fields = file.fields else { return nil }
            let decoder = FileDecoder(file: file.url, directory: file.directory, vars: vars, sink: sink)
            let origin: RuleOrigin = file.isRoot ? .pipeline : .recipe(file.url)
            var partial = decoder.decodeSections(fields, origin: origin)
            if !file.isRoot { partial.name = nil }  // a recipe's name names the recipe, not the pipeline
            return DecodedFile(id: id, partial: partial)
        }
    }

    func variants(order: [String], baseVars: [String: Variable], basePartials: [DecodedFile])
        -> [(spec: PipelineSpec, location: SourceLocation)]?
    {
        guard let fields = rootFields, let node = fields["variants"] else { return [] }
        if isNullNode(node) { return [] }
        guard case .mapping(let mapping) = node else {
            sink.error("`variants` must be a mapping of names to overrides, found \(describe(node))", at: nodeLocation(node, file: rootURL))
            return nil
        }
        var result: [(spec: PipelineSpec, location: SourceLocation)] = []
        var failed = false
        for (key, value) in mapping {
            let keyLocation = nodeLocation(key, file: rootURL)
            guard case .scalar(let keyScalar) = key, isVariantName(keyScalar.string) else {
                sink.error("variant names are letters, digits, `-`, `_` and `.`; found \(describe(key))", at: keyLocation)
                failed = true
                continue
            }
            let name = keyScalar.string
            guard let variantFields = Fields(value, what: "variant `\(name)`", allowed: Keys.variant, file: rootURL, sink: sink) else {
                failed = true
                continue
            }
            var vars = baseVars
            var partials = basePartials
            if let varsNode = variantFields["vars"] {
                for (varName, varValue) in readVars(varsNode, file: rootURL) { vars[varName] = varValue }
                // Variables can change any file's values, so decode everything again; findings
                // that only this variant's variables cause are labelled with the variant.
                let scratch = DiagnosticSink()
                let before = Set(sink.items)
                partials = decodeAll(order: order, vars: vars, into: scratch)
                for diagnostic in scratch.items where !before.contains(diagnostic) {
                    var labelled = diagnostic
                    labelled.message += " (in variant `\(name)`)"
                    sink.add(labelled)
                }
            }
            let decoder = FileDecoder(file: rootURL, directory: rootDirectory, vars: vars, sink: sink)
            var own = decoder.decodeSections(variantFields, origin: .variant(name))
            own.name = nil
            let all = [DecodedFile(id: "variant:\(name)", partial: own)] + partials
            guard let spec = finish(partials: all.map(\.partial), fileOrigins: all.map(\.id), variant: name, vars: vars) else {
                failed = true
                continue
            }
            result.append((spec, keyLocation))
        }
        return failed ? nil : result
    }

    /// Merges partials (highest precedence first) and fills defaults; reports missing settings.
    func finish(partials: [PartialSpec], fileOrigins: [String], variant: String?, vars: [String: Variable]) -> PipelineSpec? {
        guard let rootFields else { return nil }
        let rootLocation = rootFields.location
        func first<T>(_ pick: (PartialSpec) -> T?) -> T? {
            for partial in partials { if let value = pick(partial) { return value } }
            return nil
        }
        var ok = true
        func missing(_ key: String, hint: String? = nil) {
            sink.error("missing required key `\(key)`", at: rootLocation, hint: hint)
            ok = false
        }
        // Missing-key errors are the root's: a decode error elsewhere already explains itself,
        // so only report "missing" when the key was not written at all.
        let name = first(\.name)
        if name == nil, !rootFields.has("name") { missing("name") }
        let model = first(\.model)
        if model == nil, !anyWrites("model", variantFirst: variant) { missing("model", hint: "the ONNX model to compress, e.g. `model: model.onnx`") }

        let metric = first(\.metric) ?? Located(.top1, at: rootLocation)
        let searchSet = first { $0.data?.search }, verify = first { $0.data?.verify }
        let sets = mergedDataSets(eval: first { $0.data?.eval }, search: searchSet, verify: verify, metric: metric.value, sink: sink)
        if !sets.ok { ok = false }
        let eval = sets.eval
        if eval == nil {
            if let dataLocation = first(\.data?.location) {
                if !anyWritesData("eval") {
                    sink.error("`data` needs `eval`, the evaluation set (or both `search` and `verify` sets)", at: dataLocation)
                }
            } else if !anyWrites("data", variantFirst: variant) {
                missing("data", hint: "e.g. `data: { eval: val.npz }`")
            }
            ok = false
        }
        let accept = first(\.accept)
        if accept == nil, !anyWrites("accept", variantFirst: variant) {
            missing("accept", hint: "e.g. `accept: { max_drop: 0.005 }`")
        }
        let policy = first(\.search.policy) ?? Located(.budget, at: rootLocation)
        let objective = first(\.search.objective) ?? Located(.macs, at: rootLocation)
        // `greedy` without a target sets its score threshold to the bound (see GreedyPolicy).
        let target = first(\.search.target)
        if let eval, metric.value.needsLabels, !eval.hasLabels, verify == nil || searchSet == nil {
            sink.error("metric `\(metric.value.name)` needs labels, but `data.eval` names no `y`", at: eval.location)
            ok = false
        }
        guard ok, let name, let model, let eval, let accept else { return nil }

        let stem = variant.map { "\(name.value)-\($0)" } ?? name.value
        let out = rootDirectory.appendingPathComponent("out", isDirectory: true)
        let export = ExportSpec(
            onnx: first(\.export.onnx) ?? Located(out.appendingPathComponent("\(stem).onnx"), at: rootLocation),
            report: first(\.export.report) ?? Located(out.appendingPathComponent("\(stem).md"), at: rootLocation),
            c: first(\.export.c))
        let data = DataSpec(eval: eval, searchSubset: first { $0.data?.searchSubset },
                            search: searchSet, calibration: first { $0.data?.calibration }, verify: verify)
        return PipelineSpec(
            file: rootURL, variant: variant, name: name, model: model, data: data, metric: metric, accept: accept,
            rules: partials.flatMap(\.rules),
            search: SearchSpec(policy: policy, objective: objective, target: target, jobs: first(\.search.jobs),
                               margin: first(\.search.margin) ?? Located(.auto, at: rootLocation)),
            export: export, vars: vars.mapValues(\.value),
            quantize: first(\.quantize).flatMap { q in q.value.map { Located($0, at: q.location) } },
            target: PartialTarget.merge(partials.compactMap(\.target)))
    }

    private func writesRules(_ fields: Fields?) -> Bool {
        guard let node = fields?["rules"] else { return false }
        if case .sequence(let items) = node { return !items.isEmpty }
        return !isNullNode(node)
    }

    /// Whether any file writes a top-level key (a failed decode is then not also "missing").
    private func anyWrites(_ key: String, variantFirst variant: String?) -> Bool {
        if files.values.contains(where: { $0.fields?.has(key) == true }) { return true }
        guard let variant, let node = rootFields?["variants"], case .mapping(let mapping) = node,
              let value = mapping[variant], case .mapping(let overrides) = value else { return false }
        return overrides[key] != nil
    }

    private func anyWritesData(_ key: String) -> Bool {
        files.values.contains { file in
            guard let node = file.fields?["data"], case .mapping(let mapping) = node else { return false }
            return mapping[key] != nil
        } || variantMappings(section: "data").contains { $0[key] != nil }
    }

    private func variantMappings(section: String) -> [Node.Mapping] {
        guard let node = rootFields?["variants"], case .mapping(let variants) = node else { return [] }
        return variants.values.compactMap { value in
            guard case .mapping(let overrides) = value, let sectionNode = overrides[section],
                  case .mapping(let mapping) = sectionNode else { return nil }
            return mapping
        }
    }

    /// Two specs writing the same file would overwrite each other's results.
    func checkDistinctOutputs(base: PipelineSpec, variants: [(spec: PipelineSpec, location: SourceLocation)]) {
        var owners: [String: String] = [:]
        for output in [base.export.onnx.value, base.export.report.value] + (base.export.c.map { [$0.value] } ?? []) {
            owners[output.standardizedFileURL.path] = "the pipeline"
        }
        for (spec, location) in variants {
            var clashes: [String] = []
            var owner = ""
            for output in [spec.export.onnx.value, spec.export.report.value] + (spec.export.c.map { [$0.value] } ?? []) {
                let path = output.standardizedFileURL.path
                // A variant's `onnx` and `report` on one path is the output check's to report.
                if let previous = owners[path], previous != "variant `\(spec.variant ?? "")`" {
                    clashes.append("`\(relativePath(output, from: rootDirectory))`")
                    owner = previous
                } else {
                    owners[path] = "variant `\(spec.variant ?? "")`"
                }
            }
            if !clashes.isEmpty {
                sink.error("variant `\(spec.variant ?? "")` writes \(clashes.joined(separator: " and ")) like \(owner)",
                           at: location, hint: "give the variant its own `export`")
            }
        }
    }
}

// MARK: - Helpers

func isNullNode(_ node: Node) -> Bool {
    guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
    if case .null = typePlainScalar(scalar.string) { return true }
    return false
}

private func isVariableName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first == "_" || (first.isASCII && CharacterSet.letters.contains(first)) else {
        return false
    }
    return name.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) }
}

private func isVariantName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first.isASCII, CharacterSet.alphanumerics.contains(first) else { return false }
    return name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }
}

/// The identity of a local file: its path with symlinks resolved, so two spellings of one file
/// are one file (for cycles and diamonds).
private func identity(of url: URL) -> String { url.resolvingSymlinksInPath().standardizedFileURL.path }

/// Nearest folder at or above `start` holding `.git` (a folder, or a file in a worktree).
func findRepositoryRoot(from start: URL) -> URL? {
    var folder = start.standardizedFileURL
    while true {
        if FileManager.default.fileExists(atPath: folder.appendingPathComponent(".git").path) { return folder }
        let parent = folder.deletingLastPathComponent()
        if parent.path == folder.path { return nil }
        folder = parent
    }
}

/// `a/./b/../c` → `a/c`; nil when the path climbs above the top.
func normalizeRepositoryPath(_ path: String) -> String? {
    var parts: [Substring] = []
    for part in path.split(separator: "/", omittingEmptySubsequences: true) {
        switch part {
        case ".": continue
        case "..":
            guard !parts.isEmpty else { return nil }
            parts.removeLast()
        default: parts.append(part)
        }
    }
    return parts.isEmpty ? nil : parts.joined(separator: "/")
}

/// A git URL as given, except that a plain relative path is made absolute against the file that
/// names it (URLs, scp-style `host:path` and absolute paths pass through).
private func absoluteGitURL(_ written: String, relativeTo directory: URL) -> String {
    if written.contains("://") || written.hasPrefix("/") { return written }
    if let colon = written.firstIndex(of: ":"), !written[..<colon].contains("/") { return written }
    return directory.appendingPathComponent(written).standardizedFileURL.path
}
