import Foundation

/// One file a run writes, with the pipeline entry that decides its path.
public struct PlannedOutput: Sendable, Hashable {
    /// The file, absolute.
    public var url: URL
    /// What it is, for messages: "`export.onnx`", "the JSON report beside `export.report`".
    public var what: String
    /// The spec it belongs to (`nil`: the pipeline, else the variant's name).
    public var variant: String?
    /// Where its path comes from.
    public var location: SourceLocation
    /// The file is named directly by an `export` key (not derived from one).
    public var primary: Bool
    /// The output is a folder Shrink writes whole (`export.c`), not a file.
    public var isFolder = false

    /// An output.
    public init(url: URL, what: String, variant: String?, location: SourceLocation, primary: Bool) {
        self.url = url
        self.what = what
        self.variant = variant
        self.location = location
        self.primary = primary
    }
}

extension PipelineSpec {
    /// Every file a run of this spec writes: the model, the Markdown and JSON reports and the
    /// plots beside them. (The lock file belongs to the pipeline, not to a spec.)
    public var plannedOutputs: [PlannedOutput] {
        let report = export.report
        let folder = report.value.deletingLastPathComponent()
        let stem = report.value.deletingPathExtension().lastPathComponent
        var outputs = [
            PlannedOutput(url: export.onnx.value, what: "`export.onnx`", variant: variant, location: export.onnx.location, primary: true),
            PlannedOutput(url: report.value, what: "`export.report`", variant: variant, location: report.location, primary: true),
            PlannedOutput(url: export.reportJSON, what: "the JSON report beside `export.report`", variant: variant,
                          location: report.location, primary: false),
        ]
        for plot in ReportPlots.names {
            outputs.append(PlannedOutput(url: folder.appendingPathComponent("\(stem).\(plot)"),
                                         what: "the plot `\(stem).\(plot)` beside `export.report`", variant: variant,
                                         location: report.location, primary: false))
        }
        if let c = export.c {
            var folder = PlannedOutput(url: c.value, what: "`export.c`", variant: variant, location: c.location, primary: true)
            folder.isFolder = true
            outputs.append(folder)
        }
        return outputs
    }

    /// The files a run of this spec reads: the model, the data, the evaluator's files.
    public var inputFiles: [(url: URL, what: String)] {
        var inputs: [(URL, String)] = [(model.value, "the model")]
        for set in [data.eval] + [data.search, data.calibration].compactMap({ $0 }) {
            for url in set.files { inputs.append((url, "the data file")) }
        }
        if case .command(let command) = metric.value {
            let words: [String]
            switch command.command {
            case .argv(let argv): words = argv
            case .shell(let line): words = line.split(separator: " ").map(String.init)
            }
            for word in words where !word.isEmpty && !word.hasPrefix("-") {
                let url = resolve(word, against: command.workingDirectory)
                var isDirectory: ObjCBool = false
                if FileManager.default.fileExists(atPath: url.path, isDirectory: &isDirectory), !isDirectory.boolValue {
                    inputs.append((url, "a file of the evaluator command"))
                }
            }
        }
        return inputs
    }
}

/// The plot files the report writes beside the Markdown (`STEM.<name>`).
public enum ReportPlots {
    /// Their suffixes.
    public static let names = ["sensitivity.svg", "tradeoff.svg"]
}

/// Checks where a run would write: every output must resolve (symlinks included) inside the
/// repository, outside `.git/` and `.shrink/`, onto no input of the run (model, data, the
/// pipeline and its recipes, the evaluator) and onto no other output.
struct OutputPathCheck {
    /// The repository (its real path is what counts).
    var repository: URL
    /// The pipeline file's folder, for messages.
    var base: URL
    /// Whether `repository` really holds `.git` (else it is the pipeline's folder).
    var isRepository: Bool

    func diagnostics(specs: [PipelineSpec], sources: [SourceFile], lockFile: URL, lockLocation: SourceLocation) -> [Diagnostic] {
        var found: [Diagnostic] = []
        let root = realPath(repository)
        var inputs: [String: String] = [:]
        for source in sources where source.git == nil {
            inputs[realPath(source.url).path] = source.url.standardizedFileURL == specs.first?.file.standardizedFileURL
                ? "the pipeline file itself" : "the recipe `\(relativePath(source.url, from: base))`"
        }
        for spec in specs {
            for (url, what) in spec.inputFiles where inputs[realPath(url).path] == nil {
                inputs[realPath(url).path] = "\(what) `\(relativePath(url, from: base))`"
            }
        }
        var owners: [String: PlannedOutput] = [:]
        let lock = PlannedOutput(url: lockFile, what: "the lock file", variant: nil, location: lockLocation, primary: false)
        owners[realPath(lockFile).path] = lock
        // A file derived from `export.report` (the JSON report, the plots) is not reported again
        // when the report's own path is already wrong.
        var troubled = Set<String>()
        for output in specs.flatMap(\.plannedOutputs) {
            let entry = "\(output.variant ?? "")|\(output.location)"
            if !output.primary && troubled.contains(entry) { continue }
            let before = found.count
            defer { if found.count > before { troubled.insert(entry) } }
            let real = realPath(output.url)
            let written = relativeInside(real, root) != nil || relativeInside(output.url.standardizedFileURL, root) != nil
                ? relativePath(output.url, from: base) : output.url.standardizedFileURL.path
            let owner = output.variant.map { " of variant `\($0)`" } ?? ""
            let subject = "\(output.what)\(owner) (`\(written)`)"
            guard let inside = relativeInside(real, root) else {
                let via = real.path != output.url.standardizedFileURL.path ? " through a symlink to `\(real.path)`" : ""
                found.append(Diagnostic(
                    .error, "\(subject) resolves\(via) outside the \(isRepository ? "repository" : "pipeline's folder"); Shrink writes only inside it",
                    at: output.location,
                    hint: isRepository ? "write it below the repository; relative paths start at the pipeline file's folder"
                        : "no git repository holds the pipeline, so outputs stay below its folder (or run `git init` above it)"))
                continue
            }
            if let reserved = inside.split(separator: "/").first(where: { $0 == ".git" || $0 == ".shrink" }) {
                found.append(Diagnostic(.error, "\(subject) is inside `\(reserved)/`, which Shrink never writes to", at: output.location))
                continue
            }
            if let input = inputs[real.path] {
                found.append(Diagnostic(.error, "\(subject) would overwrite \(input), an input of the run", at: output.location))
                continue
            }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: real.path, isDirectory: &isDirectory), isDirectory.boolValue != output.isFolder {
                if output.isFolder {
                    found.append(Diagnostic(.error, "\(subject) is a file, not a folder", at: output.location))
                    continue
                }
                found.append(Diagnostic(.error, "\(subject) is a folder", at: output.location))
                continue
            }
            if let previous = owners[real.path] {
                // Two variants naming the same `export` file are reported by the variant check.
                if previous.primary && output.primary && previous.variant != output.variant {
                    troubled.insert(entry)
                    continue
                }
                let other = previous.what + (previous.variant.map { " of variant `\($0)`" } ?? "")
                found.append(Diagnostic(.error, "\(subject) is the same file as \(other); two outputs may not share a path",
                                        at: output.location))
                continue
            }
            owners[real.path] = output
        }
        // A C folder is kept holding exactly the library: any other output inside it would go.
        let all = specs.flatMap(\.plannedOutputs)
        for folder in all where folder.isFolder {
            let prefix = realPath(folder.url).path + "/"
            for output in all where !output.isFolder && realPath(output.url).path.hasPrefix(prefix) {
                found.append(Diagnostic(.error, "\(output.what) (`\(relativePath(output.url, from: base))`) lies inside the C library folder `export.c`, whose other files Shrink removes",
                                        at: output.location, hint: "write it beside the folder"))
            }
        }
        return found
    }

    /// `url` with symlinks resolved: the longest existing prefix through `realpath`, the rest
    /// appended (a file not written yet lands where its folder really is).
    func realPath(_ url: URL) -> URL {
        var existing = url.standardizedFileURL
        var rest: [String] = []
        while true {
            if let resolved = realpath(existing.path, nil) {
                defer { free(resolved) }
                var result = URL(fileURLWithPath: String(cString: resolved))
                for part in rest.reversed() { result.appendPathComponent(part) }
                return result.standardizedFileURL
            }
            let parent = existing.deletingLastPathComponent()
            if parent.path == existing.path { return url.standardizedFileURL }
            rest.append(existing.lastPathComponent)
            existing = parent
        }
    }

    /// `url`'s path below `root`, or nil when it is not strictly inside.
    private func relativeInside(_ url: URL, _ root: URL) -> String? {
        let prefix = root.path.hasSuffix("/") ? root.path : root.path + "/"
        guard url.path.hasPrefix(prefix) else { return nil }
        return String(url.path.dropFirst(prefix.count))
    }
}

/// Pipeline names become file names (`out/NAME.onnx`) and stage names (`NAME/select`): letters,
/// digits, `-`, `_` and `.`, starting with a letter or digit, at most 100 characters.
func isValidPipelineName(_ name: String) -> Bool {
    guard let first = name.unicodeScalars.first, first.isASCII, CharacterSet.alphanumerics.contains(first),
          name.unicodeScalars.count <= 100 else { return false }
    return name.unicodeScalars.allSatisfy { $0.isASCII && (CharacterSet.alphanumerics.contains($0) || "-_.".unicodeScalars.contains($0)) }
}
