import Foundation
import Yams

extension FileDecoder {
    /// `data.verify`: a fraction in (0, 1) of `eval` to hold out (`verify: 0.3`), or a data set
    /// written like `eval` (a path or a mapping) that the final check runs on.
    func verify(_ node: Node) -> Located<VerifySpec>? {
        let where_ = location(node)
        if case .scalar(let scalar) = node, let value = scalarValue(scalar, at: where_) {
            var number: Double?
            switch value {
            case .int(let i): number = Double(i)
            case .float(let d): number = d
            default: break
            }
            if let number {
                guard number > 0, number < 1 else {
                    sink.error("`data.verify` as a number is the share of `eval` held out for the final check, in (0, 1); found \(describe(node))",
                               at: where_, hint: "e.g. `verify: 0.5` (half), or a data set: `verify: unseen.npz`")
                    return nil
                }
                return Located(.fraction(number), at: where_)
            }
        } else if case .scalar = node {
            return nil  // a substitution error, already reported
        }
        return dataSet(node, "`data.verify`").map { Located(.set($0), at: where_) }
    }
}

/// Checks the data section once merged (its keys may come from several files): a `verify`
/// fraction splits `eval`, which a `search` set replaces; every set a metric reads needs labels
/// when the metric does; without `eval`, `search` and `verify` sets stand in for it.
func mergedDataSets(eval: DataSetSpec?, search: DataSetSpec?, verify: Located<VerifySpec>?, metric: MetricSpec,
                 sink: DiagnosticSink) -> (eval: DataSetSpec?, ok: Bool) {
    var ok = true
    if let verify, case .fraction = verify.value, search != nil {
        sink.error("`data.verify` is a share of `eval` to hold out, but `data.search` is given, so `eval` is not split: the final check runs on all of it",
                   at: verify.location, hint: "drop `verify`, or give it a data set (`verify: unseen.npz`)")
        ok = false
    }
    var eval = eval
    if eval == nil, search != nil, case .set(let v)? = verify?.value { eval = v }
    if metric.needsLabels {
        var sets: [(String, DataSetSpec)] = []
        if let search { sets.append(("`data.search`", search)) }
        if case .set(let v)? = verify?.value { sets.append(("`data.verify`", v)) }
        for (what, set) in sets where !set.hasLabels {
            sink.error("metric `\(metric.name)` needs labels, but \(what) names no `y`", at: set.location)
            ok = false
        }
    }
    return (eval, ok)
}
