import Foundation
import Yams

// The device sections of a pipeline: `quantize`, `target` and `export.c`. Kept apart from
// Decode.swift so the sections that take a model to a microcontroller read as one piece.

/// The top-level keys the device sections add (pipelines, recipes and variants).
let deviceSections = ["quantize", "target"]

extension Keys {
    static let quantize = ["int8"]
    static let int8 = ["calibration"]
    static let calibration = ["percentile"]
    static let target = ["device", "flash", "ram", "verify"]
}

/// A `target` section as one file writes it; merged key by key (a variant can change `flash` alone).
struct PartialTarget {
    var location: SourceLocation
    var device: Located<DeviceName>?
    var flash: Located<Int>?
    var ram: Located<Int>?
    var verify: Located<DeviceVerification>?
}

extension FileDecoder {
    func decodeDeviceSections(_ fields: Fields, into spec: inout PartialSpec) {
        if let node = fields["quantize"] { spec.quantize = quantize(node) }
        if let node = fields["target"] { spec.target = target(node) }
    }

    /// `int8`, `none`, `{ int8: { calibration: minmax | { percentile: P } } }`.
    func quantize(_ node: Node) -> Located<QuantizeSpec?>? {
        let where_ = location(node)
        let expected = "`quantize` must be `int8`, `none` or `{ int8: { calibration: minmax | { percentile: P } } }`"
        if case .scalar = node {
            guard let word = string(node, "`quantize`") else { return nil }
            switch word.value {
            case "int8": return Located(QuantizeSpec(), at: where_)
            case "none": return Located(nil, at: where_)
            default:
                sink.error("\(expected), found `\(word.value)`", at: where_, hint: suggestion(for: word.value, among: ["int8", "none"]))
                return nil
            }
        }
        guard let fields = Fields(node, what: "`quantize`", allowed: Keys.quantize, file: file, sink: sink) else { return nil }
        guard let int8 = fields["int8"] else {
            if fields.keys.isEmpty, case .mapping(let m) = node, m.isEmpty { sink.error(expected, at: where_) }
            return nil
        }
        if int8.isNullOrEmpty { return Located(QuantizeSpec(), at: where_) }
        guard let options = Fields(int8, what: "`quantize.int8`", allowed: Keys.int8, file: file, sink: sink) else { return nil }
        guard let calibrationNode = options["calibration"] else { return Located(QuantizeSpec(), at: where_) }
        guard let calibration = calibration(calibrationNode) else { return nil }
        return Located(QuantizeSpec(calibration: calibration), at: where_)
    }

    private func calibration(_ node: Node) -> QuantizeCalibration? {
        let what = "`quantize.int8.calibration`"
        if case .scalar = node {
            guard let word = string(node, what) else { return nil }
            if word.value == "minmax" { return .minMax }
            sink.error("\(what) must be `minmax` or `{ percentile: P }`, found `\(word.value)`", at: word.location,
                       hint: suggestion(for: word.value, among: ["minmax", "percentile"]))
            return nil
        }
        guard let fields = Fields(node, what: what, allowed: Keys.calibration, file: file, sink: sink) else { return nil }
        guard let p = fields["percentile"] else {
            if fields.keys.isEmpty, case .mapping(let m) = node, m.isEmpty {
                sink.error("\(what) must be `minmax` or `{ percentile: P }`", at: location(node))
            }
            return nil
        }
        // P below 50 would make the low percentile exceed the high one.
        return number(node: p, "`quantize.int8.calibration.percentile`", above: 50, atMost: 100).map { .percentile($0.value) }
    }

    /// `{ device: cortex-m4, flash: 256KiB, ram: 64KiB, verify: host | qemu }`.
    func target(_ node: Node) -> PartialTarget? {
        guard let fields = Fields(node, what: "`target`", allowed: Keys.target, file: file, sink: sink) else { return nil }
        var target = PartialTarget(location: fields.location)
        target.device = fields["device"].flatMap { enumeration($0, "`target.device`", DeviceName.self) }
        target.flash = fields["flash"].flatMap { size($0, "`target.flash`") }
        target.ram = fields["ram"].flatMap { size($0, "`target.ram`") }
        target.verify = fields["verify"].flatMap { enumeration($0, "`target.verify`", DeviceVerification.self) }
        return target
    }

    /// A size in bytes: `65536`, `64KiB`, `1.5MiB`, `100B`.
    func size(_ node: Node, _ what: String) -> Located<Int>? {
        let where_ = location(node)
        let expected = "\(what) must be a size in bytes like `262144`, `256KiB` or `1MiB`"
        guard case .scalar(let scalar) = node, let value = scalarValue(scalar, at: where_) else {
            if case .scalar = node { return nil }
            sink.error("\(expected), found \(describe(node))", at: where_)
            return nil
        }
        var bytes: Double?
        var hint: String?
        switch value {
        case .int(let i): bytes = Double(i)
        case .string(let s):
            let text = s.trimmingCharacters(in: .whitespaces)
            let units: [(String, Double)] = [("KiB", 1024), ("MiB", 1024 * 1024), ("B", 1)]
            if let unit = ["KB", "kB", "MB", "K", "M", "k"].first(where: { text.hasSuffix($0) }) {
                let binary = unit.uppercased().hasPrefix("K") ? "KiB" : "MiB"
                hint = "write `\(text.dropLast(unit.count))\(binary)` (\(binary == "KiB" ? "1024" : "1048576") bytes); sizes are binary"
            } else if let (suffix, factor) = units.first(where: { text.hasSuffix($0.0) }) {
                let digits = text.dropLast(suffix.count).trimmingCharacters(in: .whitespaces)
                switch typePlainScalar(digits) {
                case .int(let i): bytes = Double(i) * factor
                case .float(let d): bytes = d * factor
                default: break
                }
            }
        default: break
        }
        guard let bytes, bytes >= 1, bytes == bytes.rounded(), bytes < 1e15 else {
            sink.error("\(expected), found \(describe(node))", at: where_, hint: hint)
            return nil
        }
        return Located(Int(bytes), at: where_)
    }
}

extension FileDecoder {
    /// `export.c`: a folder (Shrink owns it: created with a marker, and stale files in it removed).
    func cFolder(_ node: Node) -> Located<URL>? {
        guard let folder = path(node, "`export.c`", kind: nil) else { return nil }
        let ext = folder.value.pathExtension.lowercased()
        if ["c", "h", "onnx", "md", "json"].contains(ext) {
            sink.error("`export.c` names a folder for the C library (model.h, model.c, …), found `\(folder.value.lastPathComponent)`",
                       at: folder.location, hint: "e.g. `export: { c: ../out/lenet-c }`")
            return nil
        }
        return folder
    }
}

extension PartialTarget {
    /// Merges targets, highest precedence first, key by key; nil when no file writes `target`.
    static func merge(_ targets: [PartialTarget]) -> DeviceTargetSpec? {
        guard let first = targets.first else { return nil }
        func pick<T>(_ key: (PartialTarget) -> T?) -> T? { targets.lazy.compactMap(key).first }
        return DeviceTargetSpec(device: pick(\.device) ?? Located(.cortexM4, at: first.location),
                                flash: pick(\.flash), ram: pick(\.ram), verify: pick(\.verify))
    }
}
