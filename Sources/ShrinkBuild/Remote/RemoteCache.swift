import Crypto
import Dispatch
import Foundation
import Synchronization

/// Where the team cache is and how to use it, resolved by the caller from flags, environment and
/// the repository's configuration file.
public struct RemoteCacheConfiguration: Sendable {
    /// The base URL: blobs at `BASE/cas/<sha256>`, records at `BASE/ac/<stage key>`.
    public var url: URL
    /// Download only: nothing is uploaded (pull-request jobs).
    public var readOnly: Bool
    /// Seconds a request may stay unanswered before the remote is given up for the run.
    public var timeout: Double
    /// How requests are authorised.
    public var credentials: RemoteCacheCredentials
    /// The shared secret records are signed and checked with (`SHRINK_CACHE_SIGNING_KEY`); nil:
    /// records are neither signed nor required to be.
    public var signingKey: Data?

    /// The default request timeout in seconds.
    public static let defaultTimeout = 5.0

    /// Creates a configuration.
    public init(url: URL, readOnly: Bool = false, timeout: Double = RemoteCacheConfiguration.defaultTimeout,
                credentials: RemoteCacheCredentials = .none, signingKey: Data? = nil) {
        self.url = url
        self.readOnly = readOnly
        self.timeout = timeout
        self.credentials = credentials
        self.signingKey = signingKey
    }

    /// Credentials from the environment: `SHRINK_REMOTE_CACHE_TOKEN` (Bearer), else the `~/.netrc`
    /// entry for the URL's host (Basic), else none.
    public static func credentials(for url: URL, environment: [String: String]) -> RemoteCacheCredentials {
        if let token = environment["SHRINK_REMOTE_CACHE_TOKEN"], !token.isEmpty { return .bearer(token) }
        if let host = url.host, let entry = Netrc.load(environment: environment)?.entry(for: host), !entry.login.isEmpty {
            return .basic(login: entry.login, password: entry.password)
        }
        return .none
    }

    /// The URL as messages show it: scheme, host, port and path, never user information.
    public var displayURL: String {
        guard var parts = URLComponents(url: url, resolvingAgainstBaseURL: false) else { return "the remote cache" }
        parts.user = nil
        parts.password = nil
        parts.query = nil
        return parts.string ?? "the remote cache"
    }
}

/// What the remote did for a run: `run --json` reports it as `remote`.
public struct RemoteCacheStats: Sendable, Codable, Equatable {
    /// Stage records served by the remote (and trusted).
    public var hits = 0
    /// Stage records the remote did not have.
    public var misses = 0
    /// Bytes downloaded (records and blobs).
    public var bytesDown: Int64 = 0
    /// Bytes uploaded (records and blobs).
    public var bytesUp: Int64 = 0
    /// Requests that failed: no connection, timeouts, 5xx, refused writes.
    public var errors = 0
    /// Records or blobs refused: a description that does not hash to its key, a missing or wrong
    /// signature, a blob whose content does not match its digest.
    public var rejected = 0

    /// Empty statistics.
    public init() {}

    private enum CodingKeys: String, CodingKey {
        case hits, misses, bytesDown = "bytes_down", bytesUp = "bytes_up", errors, rejected
    }
}

/// The team cache as a second layer under the local store, spoken over the Bazel HTTP cache
/// protocol (`GET`/`HEAD`/`PUT` of `BASE/ac/<key>` and `BASE/cas/<digest>`).
///
/// Read-through: a local miss asks for the record; a trusted record answers the stage at once, and
/// its blobs are downloaded only when something reads them (a stage computed here, an export) —
/// so a hit on a late stage never fetches what lies behind it. Every blob is re-hashed before it
/// enters the local store; once all of a record's blobs are local, the record is published locally.
/// Write-through: a stage computed here is uploaded (blobs, then record) in the background after it
/// is published locally.
///
/// A sick remote never fails a run: the first fault (no connection, a timeout, 5xx after a retry)
/// switches the remote off for the rest of the run with one warning, and stages are computed here.
public final class RemoteCache: Sendable {
    /// The configuration.
    public let configuration: RemoteCacheConfiguration
    let transport: HTTPTransport
    /// Kept as bytes (`SymmetricKey` is not `Sendable`); a key is made per use.
    private let signingSecret: Data?
    private var signingKey: SymmetricKey? { signingSecret.map { SymmetricKey(data: $0) } }
    private let warnSink: @Sendable (String) -> Void
    private let uploads = DispatchQueue(label: "shrink.remote-cache.uploads", qos: .utility)
    private let pending = DispatchGroup()

    private struct State {
        var stats = RemoteCacheStats()
        /// Off for the rest of the run after a fault.
        var down = false
        /// The server refused a write: no more uploads this run.
        var uploadsRefused = false
        var warned = Set<String>()
        /// Trusted records fetched this run, and which of them name each blob.
        var known: [StageKey: RemoteRecord] = [:]
        var keysByDigest: [Digest: Set<StageKey>] = [:]
        /// Records refused, or naming a blob the remote could not deliver intact.
        var rejectedKeys = Set<StageKey>()
        var badBlobs = Set<Digest>()
        /// Blobs the server is known to hold (uploaded or seen by HEAD this run).
        var presentOnServer = Set<Digest>()
        /// Keys asked for and missed this run (not asked again).
        var missed = Set<StageKey>()
        /// Blobs of trusted records that could not be fetched since `beginAttempt`.
        var lostBlobs = 0
        /// A blob something trusted named (not a record's output) was missing: the next attempt
        /// cannot tell which record to refuse, so it reads nothing from the remote.
        var unattributedLoss = false
        var readsOff = false
    }

    private let state = Mutex(State())

    /// A remote cache; `warn` receives one-line messages (at most one per kind of problem per run).
    public init(configuration: RemoteCacheConfiguration, warn: @escaping @Sendable (String) -> Void = Store.standardErrorWarning) {
        self.configuration = configuration
        transport = HTTPTransport(base: configuration.url, credentials: configuration.credentials, timeout: configuration.timeout)
        signingSecret = configuration.signingKey
        warnSink = warn
    }

    /// What the remote did so far.
    public var stats: RemoteCacheStats { state.withLock { $0.stats } }

    /// Whether the remote was given up for this run after a fault.
    public var isDown: Bool { state.withLock { $0.down } }

    // MARK: Reading

    /// The trusted record for `key`, or nil (a miss, a refused record, or the remote is off). Its
    /// blobs are not downloaded yet; `fetchBlob` gets them when they are read.
    public func lookup(_ key: StageKey) -> ActionRecord? {
        enum Step { case answer(ActionRecord?), ask }
        let step: Step = state.withLock { s in
            if s.down || s.readsOff || s.rejectedKeys.contains(key) || s.missed.contains(key) { return .answer(nil) }
            if let known = s.known[key] { return .answer(known.record) }
            return .ask
        }
        if case .answer(let record) = step { return record }
        switch transport.perform("GET", transport.url("ac", key.hex)) {
        case .ok(let data):
            state.withLock { $0.stats.bytesDown += Int64(data.count) }
            switch RemoteRecord.verified(data, key: key, signingKey: signingKey) {
            case .success(let envelope):
                return state.withLock { s -> ActionRecord? in
                    if envelope.record.outputs.values.contains(where: { s.badBlobs.contains($0.digest) }) {
                        s.rejectedKeys.insert(key)
                        return nil
                    }
                    s.known[key] = envelope
                    for output in envelope.record.outputs.values { s.keysByDigest[output.digest, default: []].insert(key) }
                    s.stats.hits += 1
                    return envelope.record
                }
            case .failure(let why):
                state.withLock {
                    $0.rejectedKeys.insert(key)
                    $0.stats.rejected += 1
                }
                warnOnce("rejected-\(why)", "remote cache: ignored the record for stage key \(key.short)… (\(why)); computing it here\(signingHint(why))")
                return nil
            }
        case .notFound:
            state.withLock {
                $0.missed.insert(key)
                $0.stats.misses += 1
            }
            return nil
        case let fault:
            self.fault(fault)
            return nil
        }
    }

    /// Whether a trusted record fetched this run names this blob (it can be downloaded on demand).
    public func vouches(for digest: Digest) -> Bool {
        state.withLock { !$0.down && !$0.badBlobs.contains(digest) && $0.keysByDigest[digest] != nil }
    }

    /// The record fetched (and trusted) for `key` this run, if any.
    public func knownRecord(_ key: StageKey) -> ActionRecord? {
        state.withLock { $0.known[key]?.record }
    }

    /// Downloads a blob, checks it against its digest and puts it in `store`; records whose blobs
    /// are then all local are published locally. The digest comes from something trusted — a
    /// record's outputs, or a blob that named it and was itself verified (a selection naming its
    /// decompositions) — so the content check is the whole integrity check. False when the blob
    /// could not be fetched intact (records naming it are then refused for the rest of the run).
    @discardableResult
    public func fetchBlob(_ digest: Digest, into store: Store) -> Bool {
        let wanted = state.withLock { s in !s.down && !s.badBlobs.contains(digest) }
        guard wanted else { return false }
        let vouched = state.withLock { $0.keysByDigest[digest] != nil }
        switch transport.perform("GET", transport.url("cas", digest.hex)) {
        case .ok(let data):
            state.withLock { $0.stats.bytesDown += Int64(data.count) }
            guard Digest.of(data) == digest else {
                refuseBlob(digest, why: "its content does not match its digest")
                return false
            }
            do {
                try store.put(data)
            } catch {
                warnOnce("local-write", "remote cache: cannot store a downloaded object locally (\(error)); computing here")
                lost()
                return false
            }
            publishCompleted(naming: digest, in: store)
            return true
        case .notFound:
            // A record that names a blob the cache lacks is broken. A blob only named inside another
            // blob (a selection's decompositions) cannot be pinned on one record.
            if vouched {
                refuseBlob(digest, why: "the remote cache does not have it")
            } else {
                state.withLock {
                    $0.unattributedLoss = true
                    $0.lostBlobs += 1
                }
            }
            return false
        case let fault:
            self.fault(fault)
            lost()
            return false
        }
    }

    /// Fetches every blob of the trusted record for `key` and publishes it locally (`cache pull`).
    public func materialize(_ key: StageKey, into store: Store) -> Bool {
        guard let record = lookup(key) else { return false }
        for output in record.outputs.values where !store.contains(output.digest) {
            if !fetchBlob(output.digest, into: store) { return false }
        }
        publishCompleted(key, in: store)
        return store.lookup(key, markUsed: false) != nil
    }

    private func refuseBlob(_ digest: Digest, why: String) {
        state.withLock { s in
            s.badBlobs.insert(digest)
            s.stats.rejected += 1
            s.lostBlobs += 1
            for key in s.keysByDigest[digest] ?? [] {
                s.rejectedKeys.insert(key)
                s.known.removeValue(forKey: key)
            }
        }
        warnOnce("blob-\(why)", "remote cache: object \(digest.short)… is unusable (\(why)); the stages it belongs to are computed here")
    }

    private func lost() { state.withLock { $0.lostBlobs += 1 } }

    private func publishCompleted(naming digest: Digest, in store: Store) {
        for key in state.withLock({ $0.keysByDigest[digest] ?? [] }).sorted() { publishCompleted(key, in: store) }
    }

    private func publishCompleted(_ key: StageKey, in store: Store) {
        guard let envelope = state.withLock({ $0.known[key] }) else { return }
        guard store.lookup(key, markUsed: false) == nil,
              envelope.record.outputs.values.allSatisfy({ store.checkBlob($0.digest) == .present }) else { return }
        // Best effort: a record that cannot be written locally is fetched again next time.
        try? store.putDescription(envelope.description)
        var record = envelope.record
        record.lastUsed = Date()
        try? store.publish(record)
    }

    // MARK: Retrying a run

    /// Starts counting blobs that could not be fetched (see `lostBlobsSinceAttempt`).
    public func beginAttempt() {
        state.withLock { s in
            if s.unattributedLoss { s.readsOff = true }
            s.lostBlobs = 0
        }
    }

    /// Whether a blob the remote vouched for could not be fetched intact since `beginAttempt`: a
    /// run that failed then is rerun, and the records that named the blob are computed here.
    public var lostBlobsSinceAttempt: Bool { state.withLock { $0.lostBlobs > 0 } }

    // MARK: Writing

    /// Uploads a record computed here, in the background: blobs the server lacks, then the record
    /// (signed when a signing key is set). Nothing in read-only mode or after a fault.
    public func upload(_ record: ActionRecord, description: StageDescription, from store: Store) {
        guard !configuration.readOnly, record.key == description.key, !state.withLock({ $0.down || $0.uploadsRefused }) else { return }
        pending.enter()
        uploads.async {
            defer { self.pending.leave() }
            _ = self.uploadNow(record, description: description, from: store)
        }
    }

    /// Uploads a record and its blobs now; true when the server took everything (`cache push`).
    @discardableResult
    public func uploadNow(_ record: ActionRecord, description: StageDescription, from store: Store) -> Bool {
        guard !configuration.readOnly else { return false }
        for output in record.outputs.values.sorted(by: { $0.digest < $1.digest }) {
            guard uploadBlobNow(output.digest, from: store) else { return false }
        }
        let envelope = RemoteRecord(record: record, description: description, signingKey: signingKey)
        guard let data = try? envelope.encoded() else { return false }
        return put(transport.url("ac", record.key.hex), data)
    }

    /// Uploads one local blob unless the server has it; true when it is there now.
    @discardableResult
    public func uploadBlobNow(_ digest: Digest, from store: Store) -> Bool {
        if configuration.readOnly || state.withLock({ $0.down || $0.uploadsRefused }) { return false }
        let (present, corruptThere) = state.withLock { ($0.presentOnServer.contains(digest), $0.badBlobs.contains(digest)) }
        if present { return true }
        let url = transport.url("cas", digest.hex)
        // A blob found corrupt on the server this run is replaced with the good local copy.
        switch corruptThere ? .notFound : transport.perform("HEAD", url) {
        case .ok:
            state.withLock { _ = $0.presentOnServer.insert(digest) }
            return true
        case .notFound: break
        case .status(let code) where code < 500: break  // some servers refuse HEAD; try the PUT
        case let fault:
            self.fault(fault)
            return false
        }
        guard let data = try? store.read(digest), put(url, data) else { return false }
        state.withLock { _ = $0.presentOnServer.insert(digest) }
        return true
    }

    private func put(_ url: URL, _ data: Data) -> Bool {
        switch transport.perform("PUT", url, body: data) {
        case .ok:
            state.withLock { $0.stats.bytesUp += Int64(data.count) }
            return true
        case .status(let code) where code < 500:
            state.withLock {
                $0.uploadsRefused = true
                $0.stats.errors += 1
            }
            warnOnce("refused", "remote cache: \(configuration.displayURL) refused an upload (HTTP \(code)\(code == 401 || code == 403 ? ": check SHRINK_REMOTE_CACHE_TOKEN or ~/.netrc" : code == 413 ? ": raise the server's body size limit" : "")); not uploading for the rest of this run")
            return false
        case .notFound:
            state.withLock {
                $0.uploadsRefused = true
                $0.stats.errors += 1
            }
            warnOnce("refused", "remote cache: \(configuration.displayURL) answers 404 to uploads; does it accept PUT (nginx: `dav_methods PUT`, `create_full_put_path on`)? Not uploading for the rest of this run")
            return false
        case let fault:
            self.fault(fault)
            return false
        }
    }

    /// Waits for background uploads; each request is bounded, and after a fault the rest return at
    /// once, so this ends within a few timeouts at worst.
    public func finishUploads() {
        pending.wait()
    }

    // MARK: Faults

    private func fault(_ outcome: HTTPOutcome) {
        let reason: String
        switch outcome {
        case .timedOut: reason = "no answer within \(Self.seconds(configuration.timeout)) s"
        case .failed(let why): reason = why
        case .status(let code): reason = "HTTP \(code)"
        case .ok, .notFound: return
        }
        let first = state.withLock { s -> Bool in
            s.stats.errors += 1
            defer { s.down = true }
            return !s.down
        }
        if first {
            warnOnce("down", "remote cache: \(configuration.displayURL) is not usable (\(reason)); continuing without it for this run")
        }
    }

    private func warnOnce(_ category: String, _ message: String) {
        let first = state.withLock { $0.warned.insert(category).inserted }
        if first { warnSink("warning: " + message) }
    }

    private func signingHint(_ why: RemoteRecord.Rejection) -> String {
        switch why {
        case .unsigned, .badSignature:
            return " — records must be signed with the same SHRINK_CACHE_SIGNING_KEY; further ones are only counted"
        default: return "; further ones are only counted"
        }
    }

    private static func seconds(_ value: Double) -> String {
        value == value.rounded() ? String(Int(value)) : String(value)
    }
}
