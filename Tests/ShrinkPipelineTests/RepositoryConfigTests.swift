import Foundation
import Testing
import ShrinkPipeline

/// `shrink-config.yaml`: the checked-in settings for the team cache and the executor.
@Suite struct RepositoryConfigTests {
    let file = URL(fileURLWithPath: "/repo/shrink-config.yaml")

    @Test func everySettingReads() throws {
        let text = """
        remote_cache:
          url: http://127.0.0.1:8080/shrink
          read_only: true
          timeout: 2.5
        executor: slurm
        slurm:
          partition: cpu
          time: "00:10:00"
          memory: 2G
          sbatch_args: [--qos=low, --nice=10]
          max_jobs: 4
          retries: 1
          shared_directory: ../scratch
        """
        let config = try RepositoryConfig.parse(Data(text.utf8), file: file)
        #expect(config.remoteCache?.url?.value.absoluteString == "http://127.0.0.1:8080/shrink")
        #expect(config.remoteCache?.readOnly?.value == true)
        #expect(config.remoteCache?.timeout?.value == 2.5)
        #expect(config.executor?.value == .slurm)
        #expect(config.slurm?.partition?.value == "cpu")
        #expect(config.slurm?.sbatchArguments.map(\.value) == ["--qos=low", "--nice=10"])
        #expect(config.slurm?.maxJobs?.value == 4)
        #expect(config.slurm?.retries?.value == 1)
        #expect(config.slurm?.sharedDirectory?.value.path == "/scratch")
    }

    @Test func noFileIsAnEmptyConfiguration() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("config-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        #expect(try RepositoryConfig.load(repositoryRoot: folder) == RepositoryConfig())
    }

    /// Every mistake in the file is reported at once, at its line and column.
    @Test func allProblemsAreReportedWithPlaces() {
        let text = """
        remote_cache:
          url: http://alice:secret@cache.example.com
          timeout: -1
        executor: cluster
        slurm:
          max_jobs: 0
          sbatch_args: --qos=low
        surprise: 1
        """
        do {
            _ = try RepositoryConfig.parse(Data(text.utf8), file: file)
            Issue.record("a broken configuration must not load")
        } catch {
            let lines = error.diagnostics.map { "\($0.line):\($0.column) \($0.message)" }
            #expect(lines.count == 6, "\(lines)")
            #expect(lines.contains { $0.hasPrefix("2:") && $0.contains("credentials") })
            #expect(lines.contains { $0.hasPrefix("3:") && $0.contains("timeout") })
            #expect(lines.contains { $0.hasPrefix("4:") && $0.contains("cluster") })
            #expect(lines.contains { $0.hasPrefix("6:") && $0.contains("max_jobs") })
            #expect(lines.contains { $0.hasPrefix("7:") && $0.contains("sbatch_args") })
            #expect(lines.contains { $0.hasPrefix("8:") && $0.contains("surprise") })
            // The secret never reaches a message.
            #expect(!lines.joined().contains("secret"))
        }
    }
}
