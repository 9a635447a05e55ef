/// How the chosen ranks were fitted in the end, for the report: the sequential refit's layers and
/// its effect on the search set's metric.
public struct FitReport: Sendable, Hashable, Codable {
    /// The layers refitted in sequence, in name order.
    public var refitted: [String]
    /// The chosen ranks' metric on the whole search set before and after the refit.
    public var searchMetricBefore: Double, searchMetricAfter: Double
    /// Whether the refitted model was exported and certified (else the search's own fit was).
    public var kept: Bool

    /// A fit report.
    public init(refitted: [String], searchMetricBefore: Double, searchMetricAfter: Double, kept: Bool) {
        self.refitted = refitted
        self.searchMetricBefore = searchMetricBefore
        self.searchMetricAfter = searchMetricAfter
        self.kept = kept
    }
}

/// The margin for sampling error the search required on search data, for the report.
public struct MarginReport: Sendable, Hashable, Codable {
    /// `auto` (z standard errors) or `fixed`.
    public var mode: String
    /// The margin every candidate had to clear on the search subset and on the whole search set.
    public var search: Double, full: Double
    /// The whole margin the chosen model cleared on the search set (a mean-type metric adds its own spread).
    public var chosen: Double

    /// A margin report.
    public init(mode: String, search: Double, full: Double, chosen: Double) {
        self.mode = mode
        self.search = search
        self.full = full
        self.chosen = chosen
    }
}

extension MarkdownReport {
    /// The lines on the refit and the margin, below the summary table.
    func fitAndMarginText() -> String {
        let r = report
        var md = ""
        if let f = r.fitting {
            md += "Fit: \(f.refitted.map { "`\(code($0))`" }.joined(separator: ", ")) refitted in sequence after the search "
            md += "(each layer to the original model's outputs from the compressed model's inputs, on the calibration data); "
            md += "\(cell(r.metric)) on the search set \(value(f.searchMetricBefore)) → \(value(f.searchMetricAfter))"
            md += f.kept ? ".\n\n" : " — that fails the bound on the search set and scores below the search's own fit, so that fit was kept.\n\n"
        }
        if let m = r.margin {
            if m.search == 0 && m.full == 0 && m.chosen > 0 {
                // A mean-type metric (relative L2, cosine, mse): the margin is each candidate's own spread.
                md += "Margin for sampling error (\(m.mode)): each candidate had to clear the bound by its own standard error"
                md += " times z on the search data; the chosen model's was \(value(m.chosen))"
            } else {
                md += "Margin for sampling error (\(m.mode)): a candidate had to clear the bound by \(value(m.search)) on the search subset"
                md += " and \(value(m.full)) on the whole search set"
                if abs(m.chosen - m.full) > 1e-12 { md += " (the chosen model, with its own spread: \(value(m.chosen)))" }
            }
            md += "; the verify check applies the bound as written.\n\n"
        }
        return md
    }
}
