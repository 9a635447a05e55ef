import Foundation
import Testing
import ShrinkPipeline

/// The `slurm:` settings the cluster executor added to `shrink-config.yaml`.
@Suite struct SlurmConfigTests {
    let file = URL(fileURLWithPath: "/repo/shrink-config.yaml")

    @Test func groupingAndSetupRead() throws {
        let text = """
        slurm:
          stages_per_job: 4
          setup: ["module load openblas", "source /opt/env.sh"]
        """
        let config = try RepositoryConfig.parse(Data(text.utf8), file: file)
        #expect(config.slurm?.stagesPerJob?.value == 4)
        #expect(config.slurm?.setup.map(\.value) == ["module load openblas", "source /opt/env.sh"])
    }

    @Test func badValuesAreReportedWithPlaces() {
        let text = """
        slurm:
          stages_per_job: 0
          setup: module load openblas
        """
        do {
            _ = try RepositoryConfig.parse(Data(text.utf8), file: file)
            Issue.record("accepted")
        } catch {
            let lines = error.diagnostics.map { $0.formatted(relativeTo: URL(fileURLWithPath: "/repo")) }
            #expect(lines.contains { $0.hasPrefix("shrink-config.yaml:2:") && $0.contains("stages_per_job") }, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("shrink-config.yaml:3:") && $0.contains("slurm.setup") }, "\(lines)")
        }
    }
}
