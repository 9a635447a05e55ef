import Foundation

/// One job: the batch script that runs a group of stages by key on a worker, and the tag that
/// lets a later driver recognise it in the queue.
///
/// The script runs each stage with `COMMAND KEY --root ROOT --no-lock` (the driver holds the
/// keys' locks), marks the log with `== shrink stage KEY` before each, and appends `KEY STATUS`
/// to the status file as each ends, so the driver continues the DAG as results arrive rather
/// than when the whole job ends. A failed stage does not stop the others.
public struct SlurmJobScript: Sendable, Equatable {
    /// The stages' kind (one kind per job).
    public var kind: String
    /// The stage keys, run in this order.
    public var keys: [StageKey]
    /// `COMMAND` (e.g. `[/opt/shrink/bin/shrink, exec-stage]`).
    public var command: [String]
    /// The repository root workers read the store from.
    public var root: URL
    /// Where the job writes its log and status file.
    public var logDirectory: URL
    /// Shell lines run first.
    public var setup: [String]

    /// The log file of job `id`.
    public static func logFile(job id: String, in directory: URL) -> URL { directory.appendingPathComponent("shrink-\(id).log") }
    /// The status file of job `id`: `KEY STATUS` per finished stage.
    public static func statusFile(job id: String, in directory: URL) -> URL { directory.appendingPathComponent("shrink-\(id).status") }

    /// The script's text.
    public var text: String {
        let status = Self.quote(logDirectory.path) + "/shrink-${SLURM_JOB_ID}.status"
        var lines = ["#!/bin/sh", "# Shrink: \(keys.count) \(kind) stage(s) from \(root.path)"]
        lines += setup
        lines += [
            "failed=0",
            "for key in \(keys.map(\.hex).joined(separator: " ")); do",
            "  echo \"== shrink stage $key\"",
            "  \(command.map(Self.quote).joined(separator: " ")) \"$key\" --root \(Self.quote(root.path)) --no-lock",
            "  rc=$?",
            "  echo \"$key $rc\" >> \(status)",
            "  [ \"$rc\" -eq 0 ] || failed=1",
            "done",
            "exit $failed",
        ]
        return lines.joined(separator: "\n") + "\n"
    }

    /// The job's name: `shrink-TAG-KIND`, where TAG names the store.
    public static func name(tag: String, kind: String) -> String { "shrink-\(tag)-\(kind)" }

    /// The job's comment: `shrink TAG HOST:PID KEY,KEY,…` — the store, the driver that submitted it
    /// and the stages it runs.
    public func comment(tag: String, driver: String) -> String {
        "shrink \(tag) \(driver) \(keys.map(\.hex).joined(separator: ","))"
    }

    /// What a comment written by `comment(tag:driver:)` says; nil for any other comment.
    public static func parseComment(_ comment: String) -> (tag: String, driver: String, keys: [StageKey])? {
        let parts = comment.split(separator: " ")
        guard parts.count == 4, parts[0] == "shrink" else { return nil }
        let keys = parts[3].split(separator: ",").compactMap { Digest(hex: String($0)).map(StageKey.init) }
        guard !keys.isEmpty else { return nil }
        return (String(parts[1]), String(parts[2]), keys)
    }

    /// `text` in single quotes for the shell.
    static func quote(_ text: String) -> String { "'" + text.replacingOccurrences(of: "'", with: "'\\''") + "'" }
}
