import Foundation
import Yams

/// The sections one file (or one variant) sets; every field optional, merged later in precedence
/// order.
struct PartialSpec {
    var name: Located<String>?
    var model: Located<URL>?
    var data: PartialData?
    var metric: Located<MetricSpec>?
    var accept: Located<AcceptSpec>?
    var rules: [Rule] = []
    var search = PartialSearch()
    var export = PartialExport()
    /// `quantize: none` is a value (`nil` inside), so a variant can turn quantisation off.
    var quantize: Located<QuantizeSpec?>?
    var target: PartialTarget?
}

struct PartialData {
    var location: SourceLocation
    var eval: DataSetSpec?
    var searchSubset: Located<Int>?
    var search: DataSetSpec?
    var calibration: DataSetSpec?
    var verify: Located<VerifySpec>?
}

struct PartialSearch {
    var policy: Located<SearchPolicy>?
    var objective: Located<SearchObjective>?
    var target: Located<Double>?
    var jobs: Located<Int>?
    var margin: Located<MarginSpec>?
}

struct PartialExport {
    var onnx: Located<URL>?
    var report: Located<URL>?
    var c: Located<URL>?
}

enum Keys {
    static let topLevel = ["shrink", "name", "imports", "vars", "model", "data", "metric", "accept", "rules", "search", "export", "variants"] + deviceSections
    static let variant = ["vars", "model", "data", "metric", "accept", "rules", "search", "export"] + deviceSections
    static let data = ["eval", "search_subset", "search", "calibration", "verify"]
    static let npz = ["path", "x_key", "y_key", "scale"]
    static let npy = ["x", "y", "scale"]
    static let rule = ["match", "method", "rank", "fit", "allow_growth"]
    static let match = ["name", "op", "kernel", "min_params", "min_macs"]
    static let rankSearch = ["min", "max", "step", "multiple_of"]
    static let metricMapping = ["topk", "command", "metric", "goal", "agreement", "relative_l2", "cosine"]
    static let fidelity = ["output", "axis", "decode"]
    static let accept = ["max_drop", "max_relative_drop"]
    static let search = ["policy", "objective", "target", "jobs", "margin"]
    static let export = ["onnx", "report", "c"]
    static let gitImport = ["git", "rev", "path"]
}

/// Decodes the sections of one file with one set of variables. Every reader reports its own
/// problems and returns nil, so decoding always continues and all problems surface together.
struct FileDecoder {
    let file: URL
    /// Relative paths in this file resolve against this folder.
    let directory: URL
    let vars: [String: Variable]
    let sink: DiagnosticSink

    func location(_ node: Node) -> SourceLocation { nodeLocation(node, file: file) }

    // MARK: Sections

    func decodeSections(_ fields: Fields, origin: RuleOrigin) -> PartialSpec {
        var spec = PartialSpec()
        if let node = fields["name"] { spec.name = string(node, "`name`") }
        if let node = fields["model"] { spec.model = path(node, "`model`", kind: "model file") }
        if let node = fields["data"] { spec.data = data(node) }
        if let node = fields["metric"] { spec.metric = metric(node) }
        if let node = fields["accept"] { spec.accept = accept(node) }
        if let node = fields["rules"] { spec.rules = rules(node, origin: origin) }
        if let node = fields["search"] { spec.search = search(node) }
        if let node = fields["export"] { spec.export = export(node) }
        decodeDeviceSections(fields, into: &spec)
        return spec
    }

    func data(_ node: Node) -> PartialData? {
        guard let fields = Fields(node, what: "`data`", allowed: Keys.data, file: file, sink: sink) else { return nil }
        var data = PartialData(location: fields.location)
        if let node = fields["eval"] { data.eval = dataSet(node, "`data.eval`") }
        if let node = fields["search_subset"] { data.searchSubset = integer(node, "`data.search_subset`", minimum: 1) }
        if let node = fields["search"] { data.search = dataSet(node, "`data.search`") }
        if let node = fields["calibration"] { data.calibration = dataSet(node, "`data.calibration`") }
        if let node = fields["verify"] { data.verify = verify(node) }
        return data
    }

    func dataSet(_ node: Node, _ what: String) -> DataSetSpec? {
        let where_ = location(node)
        if case .scalar = node {
            guard let archive = path(node, what, kind: "data file") else { return nil }
            checkExtension(archive, "npz", what)
            return DataSetSpec(source: .npz(archive.value, xKey: "x", yKey: "y"), scale: nil, location: where_)
        }
        guard case .mapping(let mapping) = node else {
            sink.error("\(what) must be a path to an .npz file or a mapping, found \(describe(node))", at: where_)
            return nil
        }
        let isPair = mapping.keys.contains { $0.string == "x" || $0.string == "y" }
        if isPair {
            guard let fields = Fields(node, what: what, allowed: Keys.npy, file: file, sink: sink) else { return nil }
            let scale = fields["scale"].flatMap { number(node: $0, "\(what).scale", above: 0) }
            guard let xNode = fields["x"] else {
                sink.error("\(what) names `y` but not `x`, the inputs", at: where_)
                return nil
            }
            let x = path(xNode, "\(what).x", kind: "data file")
            let y = fields["y"].flatMap { path($0, "\(what).y", kind: "data file") }
            if let x { checkExtension(x, "npy", "\(what).x") }
            if let y { checkExtension(y, "npy", "\(what).y") }
            guard let x, fields["y"] == nil || y != nil else { return nil }
            return DataSetSpec(source: .npy(x: x.value, y: y?.value), scale: scale?.value, location: where_)
        }
        guard let fields = Fields(node, what: what, allowed: Keys.npz, file: file, sink: sink) else { return nil }
        let scale = fields["scale"].flatMap { number(node: $0, "\(what).scale", above: 0) }
        let xKey = fields["x_key"].flatMap { string($0, "\(what).x_key") }
        let yKey = fields["y_key"].flatMap { string($0, "\(what).y_key") }
        guard let pathNode = fields["path"] else {
            sink.error("\(what) needs `path` (an .npz file) or `x` and `y` (.npy files)", at: where_)
            return nil
        }
        guard let archive = path(pathNode, "\(what).path", kind: "data file") else { return nil }
        checkExtension(archive, "npz", "\(what).path")
        return DataSetSpec(source: .npz(archive.value, xKey: xKey?.value ?? "x", yKey: yKey?.value ?? "y"),
                           scale: scale?.value, location: where_)
    }

    private func checkExtension(_ url: Located<URL>, _ ext: String, _ what: String) {
        if url.value.pathExtension.lowercased() != ext {
            sink.error("\(what) must be a .\(ext) file, found `\(url.value.lastPathComponent)`", at: url.location)
        }
    }

    /// `{ agreement: { axis: -1, output: logits, decode: ctc } }`, `{ relative_l2: { output: emb } }`;
    /// an empty or null value takes the defaults.
    func fidelity(_ measure: FidelityMetric.Measure, _ node: Node?, at where_: SourceLocation) -> Located<MetricSpec>? {
        var metric = FidelityMetric(measure: measure)
        guard let node, !node.isNullOrEmpty else { return Located(.fidelity(metric), at: where_) }
        let what = "`metric.\(measure.rawValue)`"
        guard let fields = Fields(node, what: what, allowed: Keys.fidelity, file: file, sink: sink) else { return nil }
        if let o = fields["output"] {
            guard let name = string(o, "\(what).output") else { return nil }
            metric.output = name.value
        }
        if let a = fields["axis"] {
            guard measure == .agreement else {
                sink.error("`axis` applies to `agreement` only", at: fields.keyLocation("axis", file: file) ?? where_)
                return nil
            }
            guard let axis = integer(a, "\(what).axis", minimum: -64) else { return nil }
            guard axis.value != 0 else {
                sink.error("`axis` 0 is the batch; give the class axis (e.g. -1, the last)", at: axis.location)
                return nil
            }
            metric.axis = axis.value
        }
        if let d = fields["decode"] {
            guard let word = string(d, "\(what).decode") else { return nil }
            guard measure == .agreement, word.value == "ctc" else {
                sink.error("`decode` takes `ctc`, for `agreement` only", at: word.location)
                return nil
            }
            metric.decodeCTC = true
        }
        return Located(.fidelity(metric), at: where_)
    }

    func metric(_ node: Node) -> Located<MetricSpec>? {
        let where_ = location(node)
        let names = ["top1", "top5", "mse"] + FidelityMetric.Measure.allCases.map(\.rawValue)
        if case .scalar = node {
            guard let word = string(node, "`metric`") else { return nil }
            switch word.value {
            case "top1": return Located(.top1, at: where_)
            case "top5": return Located(.top5, at: where_)
            case "mse": return Located(.mse, at: where_)
            default:
                if let m = FidelityMetric.Measure(rawValue: word.value) { return Located(.fidelity(FidelityMetric(measure: m)), at: where_) }
                sink.error("unknown metric `\(word.value)`; use top1, top5, mse, agreement, relative_l2, cosine, `{ topk: N }` or `{ command: … }`",
                           at: where_, hint: suggestion(for: word.value, among: names + ["topk", "command"]))
                return nil
            }
        }
        guard let fields = Fields(node, what: "`metric`", allowed: Keys.metricMapping, file: file, sink: sink) else { return nil }
        let given = FidelityMetric.Measure.allCases.filter { fields.has($0.rawValue) }
        if let measure = given.first {
            for extra in ["topk", "command", "metric", "goal"] + given.dropFirst().map(\.rawValue) where fields.has(extra) {
                sink.error("`\(extra)` cannot be combined with `\(measure.rawValue)`", at: fields.keyLocation(extra, file: file) ?? where_)
            }
            return fidelity(measure, fields[measure.rawValue], at: where_)
        }
        if fields.has("topk") {
            for extra in ["command", "metric", "goal"] where fields.has(extra) {
                sink.error("`\(extra)` belongs to a command metric, not to `topk`",
                           at: fields.keyLocation(extra, file: file) ?? where_)
            }
            guard let k = fields["topk"].flatMap({ integer($0, "`metric.topk`", minimum: 1) }) else { return nil }
            return Located(.topK(k.value), at: where_)
        }
        guard let commandNode = fields["command"] else {
            sink.error("`metric` mapping needs `topk` or `command`", at: where_)
            return nil
        }
        let command = commandLine(commandNode)
        let name = fields["metric"].flatMap { string($0, "`metric.metric`") }
        let goal = fields["goal"].flatMap { enumeration($0, "`metric.goal`", MetricGoal.self) }
        guard let command, fields["metric"] == nil || name != nil, fields["goal"] == nil || goal != nil else { return nil }
        return Located(.command(CommandMetric(
            command: command, metric: name?.value, goal: goal?.value ?? .maximize, workingDirectory: directory)), at: where_)
    }

    private func commandLine(_ node: Node) -> CommandLineSpec? {
        switch node {
        case .scalar:
            guard let text = string(node, "`metric.command`") else { return nil }
            if text.value.trimmingCharacters(in: .whitespaces).isEmpty {
                sink.error("`metric.command` is empty", at: text.location)
                return nil
            }
            return .shell(text.value)
        case .sequence(let items):
            var argv: [String] = []
            var ok = true
            for item in items {
                if let word = string(item, "each `metric.command` argument") { argv.append(word.value) } else { ok = false }
            }
            if ok, argv.isEmpty {
                sink.error("`metric.command` is empty", at: location(node))
                return nil
            }
            return ok ? .argv(argv) : nil
        default:
            sink.error("`metric.command` must be a list of arguments or a shell command string, found \(describe(node))",
                       at: location(node))
            return nil
        }
    }

    func accept(_ node: Node) -> Located<AcceptSpec>? {
        let where_ = location(node)
        guard let fields = Fields(node, what: "`accept`", allowed: Keys.accept, file: file, sink: sink) else { return nil }
        switch (fields["max_drop"], fields["max_relative_drop"]) {
        case (let drop?, nil):
            return number(node: drop, "`accept.max_drop`", atLeast: 0).map { Located(.maxDrop($0.value), at: where_) }
        case (nil, let relative?):
            return number(node: relative, "`accept.max_relative_drop`", atLeast: 0, atMost: 1)
                .map { Located(.maxRelativeDrop($0.value), at: where_) }
        case (.some, .some):
            sink.error("`accept` takes one of `max_drop` or `max_relative_drop`, not both", at: where_)
            return nil
        case (nil, nil):
            if fields.keys.count == fields.keys.filter(Keys.accept.contains).count {
                sink.error("`accept` needs `max_drop` (absolute) or `max_relative_drop`", at: where_,
                           hint: "e.g. `accept: { max_drop: 0.005 }`")
            }
            return nil
        }
    }

    func search(_ node: Node) -> PartialSearch {
        var search = PartialSearch()
        guard let fields = Fields(node, what: "`search`", allowed: Keys.search, file: file, sink: sink) else { return search }
        search.policy = fields["policy"].flatMap { enumeration($0, "`search.policy`", SearchPolicy.self) }
        search.objective = fields["objective"].flatMap { enumeration($0, "`search.objective`", SearchObjective.self) }
        search.target = fields["target"].flatMap { target($0) }
        search.jobs = fields["jobs"].flatMap { integer($0, "`search.jobs`", minimum: 1) }
        search.margin = fields["margin"].flatMap { margin($0) }
        return search
    }

    /// `auto` or a non-negative number in metric units.
    private func margin(_ node: Node) -> Located<MarginSpec>? {
        let where_ = location(node)
        if case .scalar(let scalar) = node, let value = scalarValue(scalar, at: where_) {
            switch value {
            case .string(let s) where s == "auto": return Located(.auto, at: where_)
            case .int(let i) where i >= 0: return Located(.fixed(Double(i)), at: where_)
            case .float(let d) where d >= 0 && d.isFinite: return Located(.fixed(d), at: where_)
            default: break
            }
        }
        sink.error("`search.margin` must be `auto` or a number ≥ 0 (in the metric's units), found \(describe(node))", at: where_,
                   hint: "`margin: auto` (z·standard error of the metric on the search set), `margin: 0.005`, or `margin: 0` for none")
        return nil
    }

    /// `"4x"` (or a bare number) → 4; must exceed 1, since it is a compression ratio.
    private func target(_ node: Node) -> Located<Double>? {
        let where_ = location(node)
        guard case .scalar(let scalar) = node, let value = scalarValue(scalar, at: where_) else {
            if case .scalar = node { return nil }
            sink.error("`search.target` must be a ratio like `4x`, found \(describe(node))", at: where_)
            return nil
        }
        var ratio: Double?
        switch value {
        case .int(let i): ratio = Double(i)
        case .float(let d): ratio = d
        case .string(let s):
            let trimmed = s.trimmingCharacters(in: .whitespaces)
            if trimmed.hasSuffix("x") || trimmed.hasSuffix("X") {
                let digits = String(trimmed.dropLast())
                if case .int(let i) = typePlainScalar(digits) { ratio = Double(i) }
                if case .float(let d) = typePlainScalar(digits) { ratio = d }
            }
        default: break
        }
        guard let ratio, ratio > 1 else {
            sink.error("`search.target` must be a compression ratio above 1 like `4x`, found \(describe(node))", at: where_)
            return nil
        }
        return Located(ratio, at: where_)
    }

    func export(_ node: Node) -> PartialExport {
        var export = PartialExport()
        guard let fields = Fields(node, what: "`export`", allowed: Keys.export, file: file, sink: sink) else { return export }
        export.onnx = fields["onnx"].flatMap { path($0, "`export.onnx`", kind: nil) }
        export.report = fields["report"].flatMap { path($0, "`export.report`", kind: nil) }
        if let onnx = export.onnx { checkExtension(onnx, "onnx", "`export.onnx`") }
        export.c = fields["c"].flatMap { cFolder($0) }
        if let report = export.report, report.value.pathExtension.lowercased() == "json" {
            sink.error("`export.report` names the markdown report; the JSON report is written beside it", at: report.location)
        }
        return export
    }

    // MARK: Rules

    func rules(_ node: Node, origin: RuleOrigin) -> [Rule] {
        switch node {
        case .sequence(let items): return items.compactMap { rule($0, origin: origin) }
        case .scalar where isNull(node): return []
        default:
            sink.error("`rules` must be a list of rules, found \(describe(node))", at: location(node))
            return []
        }
    }

    func rule(_ node: Node, origin: RuleOrigin) -> Rule? {
        guard let fields = Fields(node, what: "a rule", allowed: Keys.rule, file: file, sink: sink) else { return nil }
        var match = RuleMatch()
        var matchOK = true
        if let matchNode = fields["match"] {
            if let decoded = ruleMatch(matchNode) { match = decoded } else { matchOK = false }
        }
        guard let methodNode = fields["method"] else {
            sink.error("rule needs a `method`", at: fields.location,
                       hint: "one of \(MethodName.allCases.map { "`\($0.rawValue)`" }.joined(separator: ", "))")
            return nil
        }
        guard let method = enumeration(methodNode, "`method`", MethodName.self) else { return nil }
        var rank: Located<RankSpec>?
        var rankOK = true
        if let rankNode = fields["rank"] {
            if method.value == .keep {
                sink.warning("`rank` means nothing for `keep`; it is ignored", at: location(rankNode))
            } else if let decoded = self.rank(rankNode, method: method.value) {
                rank = decoded
            } else {
                rankOK = false
            }
        } else if method.value != .keep {
            rank = Located(.search(RankSearchRange()), at: method.location)
        }
        let fit = fields["fit"].flatMap { enumeration($0, "`fit`", FitMode.self) }
        if fields.has("fit"), fit == nil { return nil }
        if let fit, fit.value != .weights, method.value == .keep {
            sink.warning("`fit` means nothing for `keep`; it is ignored", at: fit.location)
        }
        var allowGrowth: Located<Bool>?
        if let node = fields["allow_growth"] {
            guard let flag = boolean(node, "`allow_growth`") else { return nil }
            allowGrowth = flag
            if flag.value, method.value == .keep {
                sink.warning("`allow_growth` means nothing for `keep`; it is ignored", at: flag.location)
            } else if flag.value, case .search? = rank?.value {
                sink.warning("`allow_growth` only concerns a fixed rank; the search never lets a layer grow", at: flag.location)
            }
        }
        guard matchOK, rankOK else { return nil }
        return Rule(match: match, method: method, rank: rank,
                    fit: fit ?? Located(.sequential, at: method.location), origin: origin, location: fields.location,
                    allowGrowth: allowGrowth)
    }

    func ruleMatch(_ node: Node) -> RuleMatch? {
        guard let fields = Fields(node, what: "`match`", allowed: Keys.match, file: file, sink: sink) else { return nil }
        var match = RuleMatch()
        var ok = true
        func take<T>(_ key: String, _ read: (Node) -> T?) -> T? {
            guard let node = fields[key] else { return nil }
            let value = read(node)
            if value == nil { ok = false }
            return value
        }
        match.name = take("name") { string($0, "`match.name`") }
        match.op = take("op") { enumeration($0, "`match.op`", LayerOp.self) }
        match.kernel = take("kernel") { kernel($0) }
        match.minParams = take("min_params") { integer($0, "`match.min_params`", minimum: 0) }
        match.minMacs = take("min_macs") { integer($0, "`match.min_macs`", minimum: 0) }
        if let kernel = match.kernel, let op = match.op, op.value != .conv {
            sink.error("`match.kernel` only applies to Conv layers, but `op` is `\(op.value.rawValue)`", at: kernel.location)
            ok = false
        }
        return ok ? match : nil
    }

    /// `5x5` → [5, 5]; a bare integer `3` means 3×3.
    private func kernel(_ node: Node) -> Located<[Int]>? {
        let where_ = location(node)
        guard case .scalar(let scalar) = node, let value = scalarValue(scalar, at: where_) else {
            if case .scalar = node { return nil }
            sink.error("`match.kernel` must be a size like `3x3`, found \(describe(node))", at: where_)
            return nil
        }
        switch value {
        case .int(let k) where k >= 1: return Located([k, k], at: where_)
        case .string(let s):
            let parts = s.lowercased().split(separator: "x", omittingEmptySubsequences: false)
            let sizes = parts.compactMap { part -> Int? in
                guard let k = Int(part), k >= 1, part.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
                return k
            }
            if sizes.count == parts.count, (1...3).contains(sizes.count) { return Located(sizes, at: where_) }
        default: break
        }
        sink.error("`match.kernel` must be a size like `3x3`, found \(describe(node))", at: where_)
        return nil
    }

    func rank(_ node: Node, method: MethodName) -> Located<RankSpec>? {
        let where_ = location(node)
        switch node {
        case .scalar(let scalar):
            guard let value = scalarValue(scalar, at: where_) else { return nil }
            switch value {
            case .int(let r) where r >= 1: return Located(.count(r), at: where_)
            case .float(let f) where f > 0 && f <= 1: return Located(.fraction(f), at: where_)
            case .string("search"): return Located(.search(RankSearchRange()), at: where_)
            case .string(let s):
                sink.error("`rank` must be an integer, a fraction in (0, 1], `search`, `{ energy: … }` or `{ search: … }`, found `\(s)`",
                           at: where_, hint: suggestion(for: s, among: ["search", "energy"]))
            default:
                sink.error("`rank` must be a positive integer or a fraction in (0, 1], found \(describe(node))", at: where_)
            }
            return nil
        case .sequence(let items):
            guard method == .tucker2 else {
                sink.error("a rank pair `[out, in]` is only for `tucker2`, not `\(method.rawValue)`", at: where_)
                return nil
            }
            guard items.count == 2 else {
                sink.error("a `tucker2` rank pair has two entries, `[out, in]`; found \(items.count)", at: where_)
                return nil
            }
            let out = rankComponent(items[0]), input = rankComponent(items[1])
            guard let out, let input else { return nil }
            return Located(.tucker(out: out, in: input), at: where_)
        case .mapping(let mapping):
            let isEnergy = mapping.keys.contains { $0.string == "energy" }
            if isEnergy, mapping.keys.contains(where: { $0.string == "search" }) {
                sink.error("`rank` takes one of `energy` or `search`, not both", at: where_)
                return nil
            }
            let allowed = isEnergy ? ["energy"] : ["search"]
            guard let fields = Fields(node, what: "`rank`", allowed: allowed, file: file, sink: sink) else { return nil }
            if isEnergy {
                guard let energy = fields["energy"].flatMap({ number(node: $0, "`rank.energy`", above: 0, atMost: 1) }) else { return nil }
                return Located(.energy(energy.value), at: where_)
            }
            guard let searchNode = fields["search"] else {
                if fields.keys.count == mapping.count {
                    sink.error("`rank` mapping needs `energy` or `search`", at: where_)
                }
                return nil
            }
            return rankSearch(searchNode).map { Located(.search($0), at: where_) }
        case .alias:
            return nil
        }
    }

    private func rankComponent(_ node: Node) -> RankComponent? {
        let where_ = location(node)
        guard case .scalar(let scalar) = node, let value = scalarValue(scalar, at: where_) else {
            if case .scalar = node { return nil }
            sink.error("a `tucker2` rank must be a positive integer or a fraction in (0, 1], found \(describe(node))", at: where_)
            return nil
        }
        switch value {
        case .int(let r) where r >= 1: return .count(r)
        case .float(let f) where f > 0 && f <= 1: return .fraction(f)
        default:
            sink.error("a `tucker2` rank must be a positive integer or a fraction in (0, 1], found \(describe(node))", at: where_)
            return nil
        }
    }

    private func rankSearch(_ node: Node) -> RankSearchRange? {
        if isNull(node) { return RankSearchRange() }
        guard let fields = Fields(node, what: "`rank.search`", allowed: Keys.rankSearch, file: file, sink: sink) else { return nil }
        var ok = true
        func bound(_ key: String) -> Located<Int>? {
            guard let node = fields[key] else { return nil }
            let value = integer(node, "`rank.search.\(key)`", minimum: 1)
            if value == nil { ok = false }
            return value
        }
        let range = (min: bound("min"), max: bound("max"), step: bound("step"), multipleOf: bound("multiple_of"))
        if let low = range.min, let high = range.max, low.value > high.value {
            sink.error("`rank.search.min` (\(low.value)) is larger than `max` (\(high.value))", at: low.location)
            ok = false
        }
        guard ok else { return nil }
        return RankSearchRange(min: range.min?.value, max: range.max?.value, step: range.step?.value,
                               multipleOf: range.multipleOf?.value)
    }

    // MARK: Scalars

    func isNull(_ node: Node) -> Bool {
        guard case .scalar(let scalar) = node, scalar.style == .plain || scalar.style == .any else { return false }
        if case .null = typePlainScalar(scalar.string) { return true }
        return false
    }

    /// A scalar's typed value after `${var}` substitution; nil (reported) when substitution failed.
    func scalarValue(_ scalar: Node.Scalar, at where_: SourceLocation) -> ScalarValue? {
        var text = scalar.string
        let quoted = scalar.style != .plain && scalar.style != .any
        if text.hasPrefix("${"), text.hasSuffix("}"), text.dropFirst(2).dropLast().allSatisfy({ $0 != "}" && $0 != "$" }),
           let variable = vars[String(text.dropFirst(2).dropLast())] {
            return variable.typed
        }
        if text.contains("$") {
            guard let substituted = substitute(text, scalar: scalar, at: where_) else { return nil }
            text = substituted
        }
        if quoted || scalar.tag.rawValue == Tag.Name.str.rawValue { return .string(text) }
        return typePlainScalar(text)
    }

    private func substitute(_ text: String, scalar: Node.Scalar, at where_: SourceLocation) -> String? {
        // Columns point at the `${` when the scalar is on one line and written without escapes;
        // otherwise at the scalar.
        let singleLine = !text.contains("\n")
        let lead: Int? = switch scalar.style {
        case .plain, .any: singleLine ? 0 : nil
        case .singleQuoted, .doubleQuoted: singleLine && !text.contains("\\") && !text.contains("'") ? 1 : nil
        default: nil
        }
        func position(_ offset: Int) -> SourceLocation {
            guard let lead else { return where_ }
            return SourceLocation(file: where_.file, line: where_.line, column: where_.column + lead + offset)
        }
        let scalars = Array(text.unicodeScalars)
        var result = String.UnicodeScalarView()
        var ok = true
        var i = 0
        while i < scalars.count {
            let c = scalars[i]
            if c == "$", i + 1 < scalars.count, scalars[i + 1] == "$", i + 2 < scalars.count, scalars[i + 2] == "{" {
                result.append(contentsOf: "${".unicodeScalars)
                i += 3
                continue
            }
            guard c == "$", i + 1 < scalars.count, scalars[i + 1] == "{" else {
                result.append(c)
                i += 1
                continue
            }
            guard let close = scalars[(i + 2)...].firstIndex(of: "}") else {
                sink.error("`${` without a closing `}`", at: position(i), hint: "write `$${` for a literal `${`")
                return nil
            }
            let name = String(String.UnicodeScalarView(scalars[(i + 2)..<close]))
            if let variable = vars[name] {
                result.append(contentsOf: variable.typed.substitutionText.unicodeScalars)
            } else {
                let hint = suggestion(for: name, among: vars.keys.sorted()) ?? (vars.isEmpty ? "define it under `vars:`" : nil)
                sink.error("unknown variable `\(name)`", at: position(i), hint: hint)
                ok = false
            }
            i = close + 1
        }
        return ok ? String(result) : nil
    }

    func string(_ node: Node, _ what: String) -> Located<String>? {
        let where_ = location(node)
        guard case .scalar(let scalar) = node else {
            sink.error("\(what) must be a string, found \(describe(node))", at: where_)
            return nil
        }
        guard let value = scalarValue(scalar, at: where_) else { return nil }
        guard var text = value.text, !text.isEmpty else {
            sink.error("\(what) must be a string, found \(describe(node))", at: where_)
            return nil
        }
        // A number in a string position keeps its spelling (`1.50` stays `1.50`).
        if case .string = value {} else if !scalar.string.contains("$") { text = scalar.string }
        return Located(text, at: where_)
    }

    /// `true` or `false`.
    func boolean(_ node: Node, _ what: String) -> Located<Bool>? {
        let where_ = location(node)
        guard case .scalar(let scalar) = node else {
            sink.error("\(what) must be `true` or `false`, found \(describe(node))", at: where_)
            return nil
        }
        guard let value = scalarValue(scalar, at: where_) else { return nil }
        guard case .bool(let flag) = value else {
            sink.error("\(what) must be `true` or `false`, found \(describe(node))", at: where_)
            return nil
        }
        return Located(flag, at: where_)
    }

    func integer(_ node: Node, _ what: String, minimum: Int) -> Located<Int>? {
        let where_ = location(node)
        if case .scalar(let scalar) = node {
            guard let value = scalarValue(scalar, at: where_) else { return nil }
            if case .int(let i) = value, i >= minimum { return Located(i, at: where_) }
        }
        let kind = minimum == 1 ? "a positive integer" : minimum == 0 ? "a non-negative integer" : "an integer ≥ \(minimum)"
        sink.error("\(what) must be \(kind), found \(describe(node))", at: where_)
        return nil
    }

    func number(node: Node, _ what: String, atLeast low: Double? = nil, above open: Double? = nil,
                atMost high: Double? = nil) -> Located<Double>? {
        let where_ = location(node)
        var found: Double?
        if case .scalar(let scalar) = node {
            guard let value = scalarValue(scalar, at: where_) else { return nil }
            switch value {
            case .int(let i): found = Double(i)
            case .float(let d): found = d
            default: break
            }
        }
        var range: String {
            let lower = low.map { "≥ \(formatNumber($0))" } ?? open.map { "> \(formatNumber($0))" }
            let upper = high.map { "≤ \(formatNumber($0))" }
            let parts = [lower, upper].compactMap { $0 }
            return parts.isEmpty ? "" : " " + parts.joined(separator: " and ")
        }
        guard let value = found else {
            sink.error("\(what) must be a number\(range), found \(describe(node))", at: where_)
            return nil
        }
        if let low, value < low { sink.error("\(what) must be a number\(range), found \(describe(node))", at: where_); return nil }
        if let open, value <= open { sink.error("\(what) must be a number\(range), found \(describe(node))", at: where_); return nil }
        if let high, value > high { sink.error("\(what) must be a number\(range), found \(describe(node))", at: where_); return nil }
        return Located(value, at: where_)
    }

    func enumeration<E: RawRepresentable & CaseIterable>(_ node: Node, _ what: String, _ type: E.Type) -> Located<E>?
    where E.RawValue == String {
        let choices = E.allCases.map(\.rawValue)
        let listed = choices.map { "`\($0)`" }.joined(separator: ", ")
        guard case .scalar = node else {
            sink.error("\(what) must be one of \(listed), found \(describe(node))", at: location(node))
            return nil
        }
        guard let word = string(node, what) else { return nil }
        if let value = E(rawValue: word.value) { return Located(value, at: word.location) }
        // Accept a case-insensitive spelling only in the hint: the file should say it one way.
        let hint = suggestion(for: word.value, among: choices)
        sink.error("unknown \(what.replacingOccurrences(of: "`", with: "").split(separator: ".").last.map(String.init) ?? what) `\(word.value)`; expected one of \(listed)",
                   at: word.location, hint: hint)
        return nil
    }

    /// A path relative to this file's folder, made absolute; `kind` (when set) means it must exist.
    func path(_ node: Node, _ what: String, kind: String?) -> Located<URL>? {
        guard let text = string(node, what) else { return nil }
        let url = resolve(text.value, against: directory)
        if let kind, !FileManager.default.fileExists(atPath: url.path) {
            sink.error("\(kind) not found: `\(text.value)`", at: text.location)
            return nil
        }
        return Located(url, at: text.location)
    }
}

/// `~`-free path resolution: absolute stays, relative joins `base`; `.`/`..` folded.
func resolve(_ path: String, against base: URL) -> URL {
    if path.hasPrefix("/") { return URL(fileURLWithPath: path).standardizedFileURL }
    return base.appendingPathComponent(path).standardizedFileURL
}

func formatNumber(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int(value)) : String(value)
}

extension Node {
    /// `~`, `null`, an empty value or `{}`: "the defaults" where a key's value is optional.
    var isNullOrEmpty: Bool {
        switch self {
        case .scalar(let s): return ["", "~", "null", "Null", "NULL"].contains(s.string)
        case .mapping(let m): return m.isEmpty
        default: return false
        }
    }
}
