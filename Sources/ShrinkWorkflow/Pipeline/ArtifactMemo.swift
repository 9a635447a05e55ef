import Foundation
import ShrinkBuild
import ShrinkCompress
import ShrinkGraph
import ShrinkRuntime
import ShrinkTensor
import Synchronization

/// Process-wide memo of parsed artifacts keyed by content digest, so the many stages of one run
/// parse a model or a data file once. Content-addressed keys make sharing safe.
final class ArtifactMemo: Sendable {
    static let shared = ArtifactMemo()

    private let graphs = Mutex<[Digest: Graph]>([:])
    private let datasets = Mutex<[String: Dataset]>([:])
    private let sessions = Mutex<[String: Session]>([:])
    private let tensors = Mutex<[String: [String: Tensor]]>([:])
    private let statistics = Mutex<[String: ActivationStatistics?]>([:])
    private let names = Mutex<[Digest: String]>([:])

    /// Remembers that blob `digest` came from the user's file `name`, so that messages about
    /// its contents name that file rather than the blob.
    func setName(_ name: String, for digest: Digest) { names.withLock { $0[digest] = name } }

    /// The user's name of blob `digest`, if this process put it in the store.
    func name(of digest: Digest) -> String? { names.withLock { $0[digest] } }

    /// The graph stored under `digest`.
    func graph(_ digest: Digest, store: Store) throws -> Graph {
        if let g = graphs.withLock({ $0[digest] }) { return g }
        let url = try store.verifiedURL(for: digest)
        let g = try Graph(serializedData: try Data(contentsOf: url), file: "model.onnx")
        graphs.withLock { $0[digest] = g }
        return g
    }

    /// A session over an (unmodified) graph, shared by evaluations of the same model.
    func session(_ key: String, threads: Int, make: () throws -> Session) throws -> Session {
        let k = "\(key)#\(threads)"
        if let s = sessions.withLock({ $0[k] }) { return s }
        let s = try make()
        sessions.withLock { $0[k] = s }
        return s
    }

    /// A dataset read from store blobs.
    func dataset(_ ref: DataRef, store: Store) throws -> Dataset {
        let key = ref.cacheKey
        if let d = datasets.withLock({ $0[key] }) { return d }
        let d = try ref.load(store: store)
        datasets.withLock { $0[key] = d }
        return d
    }

    /// One layer's calibration statistics from the stats blob `digest`: every decompose stage of
    /// that layer (one per rank the search tries) would otherwise unzip and parse the same arrays.
    func statistics(_ digest: Digest, layer: String, make: () throws -> ActivationStatistics?) throws -> ActivationStatistics? {
        let key = "\(digest.hex):\(layer)"
        if let s = statistics.withLock({ $0[key] }) { return s }
        let s = try make()
        statistics.withLock { $0[key] = .some(s) }
        return s
    }

    /// Memoised named tensors (activations at a cut, reference outputs).
    func tensors(_ key: String, make: () throws -> [String: Tensor]) throws -> [String: Tensor] {
        if let t = tensors.withLock({ $0[key] }) { return t }
        let t = try make()
        tensors.withLock { $0[key] = t }
        return t
    }
}

/// A data set as content: the blobs holding it and how to read them.
struct DataRef: Sendable, Hashable, Codable {
    /// `npz` or `npy`.
    var format: String
    /// Inputs blob (the `.npz`, or the inputs `.npy`).
    var x: Digest
    /// Targets `.npy` blob for the two-file form.
    var y: Digest?
    /// Keys inside the `.npz`.
    var xKey: String, yKey: String?
    /// Scale for uint8 inputs.
    var scale: Double?
    /// The first `limit` samples only (the search subset, taken after the split); nil for all.
    var limit: Int?
    /// One part of a seeded split of the file's samples (`data.verify` as a fraction); nil: all.
    var split: DataSplit?
    var part: DataSplit.Part?

    var cacheKey: String {
        let base = "\(format):\(x.hex):\(y?.hex ?? "-"):\(xKey):\(yKey ?? "-"):\(scale ?? 0):\(limit ?? -1)"
        guard let split, let part else { return base }
        return base + ":\(part.rawValue)-of-\(split.verifyFraction)-\(split.seed)"
    }

    /// The blobs, for stage inputs.
    var inputs: [String: StageInput] {
        var out: [String: StageInput] = ["data.x": .blob(x)]
        if let y { out["data.y"] = .blob(y) }
        return out
    }

    func load(store: Store) throws -> Dataset {
        let xURL = try store.verifiedURL(for: x)
        let yURL = try y.map { try store.verifiedURL(for: $0) }
        // Messages name the user's files, not the blobs they were read from.
        let xName = ArtifactMemo.shared.name(of: x), yName = y.flatMap { ArtifactMemo.shared.name(of: $0) }
        var d: Dataset
        do {
            if format == "npz" {
                d = try Dataset.load(npz: xURL.path, inputKey: xKey, targetKey: yKey, scale: scale.map(Float.init))
            } else {
                d = try Dataset.load(inputs: xURL.path, targets: yURL?.path, scale: scale.map(Float.init))
            }
        } catch {
            throw DataContentError(blob: x, message: error.message)
        }
        if let xName { d.source = xName }
        if let yName { d.targetFile = yName }
        if let split, let part {
            guard let selected = d.part(part, of: split) else {
                throw DataContentError(blob: x, message: "\(d.source) has \(d.count) sample(s); holding out a verify part needs at least 2 — give `data.verify` a data set of its own")
            }
            d = selected
        }
        if let limit { d = d.prefix(limit) }
        return d
    }

    /// Runs `body`, turning a data-content error it throws into one that names this data set.
    func attributing<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let e as DatasetError { throw DataContentError(blob: x, message: e.message) }
    }
}

/// A data set's content is wrong for the pipeline (a missing array, a shape the model does not
/// take). Names the data by its blob, which the runner maps back to the `data:` entry that gave it.
struct DataContentError: Error, CustomStringConvertible {
    /// The inputs blob of the data set.
    var blob: Digest
    /// What is wrong.
    var message: String

    var description: String { "data: \(message)" }
}
