import Foundation

/// How many stages of one kind go into one job. A job costs a fixed overhead `o` (submission,
/// scheduling, start, the driver noticing its end) on top of its stages' work `g·t`; with `p` job
/// slots, `n` stages in groups of `g` take `⌈⌈n/g⌉/p⌉` rounds of `o + g·t`. Small groups pay the
/// overhead often; large ones leave slots idle. The chosen size minimises that projected time
/// (ties go to fewer jobs) — the same model docs/cluster.md uses for its speedup projections.
public enum SlurmGrouping {
    /// At most this many stages per job: the keys ride in the job's comment, which Slurm caps
    /// at about 1 KB.
    public static let maxStagesPerJob = 12

    /// Projected seconds for `count` stages of `stageSeconds` each, in jobs of `perJob` stages with
    /// `overhead` seconds per job on `slots` parallel job slots.
    public static func projectedSeconds(count: Int, perJob: Int, stageSeconds: Double, overhead: Double, slots: Int) -> Double {
        guard count > 0 else { return 0 }
        let g = max(1, min(perJob, count))
        let jobs = (count + g - 1) / g
        let rounds = (jobs + max(1, slots) - 1) / max(1, slots)
        return Double(rounds) * (overhead + Double(g) * stageSeconds)
    }

    /// The group size with the least projected time for `count` ready stages.
    public static func stagesPerJob(count: Int, stageSeconds: Double, overhead: Double, slots: Int,
                                    cap: Int = maxStagesPerJob) -> Int {
        guard count > 1 else { return 1 }
        var best = 1
        var bestTime = Double.infinity
        for g in 1...max(1, min(count, cap)) {
            let time = projectedSeconds(count: count, perJob: g, stageSeconds: stageSeconds, overhead: overhead, slots: slots)
            // Ties (within a millisecond) go to the larger group: fewer jobs for the cluster.
            if time <= bestTime + 1e-3 {
                best = g
                bestTime = min(time, bestTime)
            }
        }
        return best
    }

    /// Splits `count` items into consecutive groups of at most `size`, balanced so no group is
    /// much smaller than the others (7 in groups of 4 → 4 + 3).
    public static func split(count: Int, size: Int) -> [Range<Int>] {
        guard count > 0 else { return [] }
        let jobs = (count + max(1, size) - 1) / max(1, size)
        var ranges: [Range<Int>] = []
        var start = 0
        for j in 0..<jobs {
            let length = count / jobs + (j < count % jobs ? 1 : 0)
            ranges.append(start..<(start + length))
            start += length
        }
        return ranges
    }
}
