import Dispatch
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Synchronization

/// How a request to the remote cache is authorised. Credentials come from the environment or
/// `~/.netrc` only, and are never part of a message: `description` names the source, not the value.
public enum RemoteCacheCredentials: Sendable, CustomStringConvertible {
    /// No `Authorization` header.
    case none
    /// `Authorization: Bearer <token>` (`SHRINK_REMOTE_CACHE_TOKEN`).
    case bearer(String)
    /// `Authorization: Basic …` from a `~/.netrc` entry for the cache's host.
    case basic(login: String, password: String)

    /// Where the credentials came from, without them.
    public var description: String {
        switch self {
        case .none: return "no credentials"
        case .bearer: return "a bearer token (SHRINK_REMOTE_CACHE_TOKEN)"
        case .basic: return "a ~/.netrc login"
        }
    }

    var header: String? {
        switch self {
        case .none: return nil
        case .bearer(let token): return "Bearer \(token)"
        case .basic(let login, let password): return "Basic " + Data("\(login):\(password)".utf8).base64EncodedString()
        }
    }
}

/// What one HTTP exchange came to, as the remote cache sees it.
enum HTTPOutcome: Sendable {
    /// 2xx with the body (empty for HEAD and PUT).
    case ok(Data)
    /// 404: the entry is not there — a miss, not a fault.
    case notFound
    /// Any other status.
    case status(Int)
    /// No answer in time.
    case timedOut
    /// No connection, reset, TLS failure…: a one-line reason without the URL's credentials.
    case failed(String)

    /// A fault worth retrying once: the server may be back (5xx, 429, a reset connection).
    var isTransient: Bool {
        switch self {
        case .status(let code): return code >= 500 || code == 429
        case .failed: return true
        case .ok, .notFound, .timedOut: return false
        }
    }
}

/// Synchronous GET/HEAD/PUT over `URLSession`, for Dispatch workers (never the cooperative pool).
/// Each request has a bounded time; the caller decides what a fault means for the run.
final class HTTPTransport: Sendable {
    let base: URL
    let credentials: RemoteCacheCredentials
    let timeout: Double
    private let session: URLSession

    init(base: URL, credentials: RemoteCacheCredentials, timeout: Double) {
        self.base = base
        self.credentials = credentials
        self.timeout = timeout
        let configuration = URLSessionConfiguration.ephemeral
        // Idle time per request: a server that accepts and never answers costs at most this.
        configuration.timeoutIntervalForRequest = timeout
        // A large blob on a slow link may take longer in total, as long as bytes keep coming.
        configuration.timeoutIntervalForResource = max(timeout * 60, 300)
        configuration.requestCachePolicy = .reloadIgnoringLocalCacheData
        configuration.urlCache = nil
        configuration.httpCookieStorage = nil
        configuration.httpMaximumConnectionsPerHost = 4
        session = URLSession(configuration: configuration)
    }

    deinit { session.finishTasksAndInvalidate() }

    /// `BASE/<area>/<hex>`.
    func url(_ area: String, _ hex: String) -> URL {
        base.appendingPathComponent(area, isDirectory: true).appendingPathComponent(hex)
    }

    /// One request; `attempts` > 1 repeats transient faults after a short pause.
    func perform(_ method: String, _ url: URL, body: Data? = nil, attempts: Int = 2) -> HTTPOutcome {
        var outcome = HTTPOutcome.failed("not attempted")
        for attempt in 0..<max(1, attempts) {
            if attempt > 0 { usleep(UInt32(100_000 * attempt)) }
            outcome = once(method, url, body: body)
            if !outcome.isTransient { return outcome }
        }
        return outcome
    }

    private func once(_ method: String, _ url: URL, body: Data?) -> HTTPOutcome {
        var request = URLRequest(url: url, cachePolicy: .reloadIgnoringLocalCacheData, timeoutInterval: timeout)
        request.httpMethod = method
        if let header = credentials.header { request.setValue(header, forHTTPHeaderField: "Authorization") }
        if let body {
            request.httpBody = body
            request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        }
        let done = DispatchSemaphore(value: 0)
        let result = Mutex<HTTPOutcome>(.failed("no answer"))
        let task = session.dataTask(with: request) { data, response, error in
            let outcome: HTTPOutcome
            if let error {
                let code = (error as NSError).code
                outcome = code == NSURLErrorTimedOut ? .timedOut : .failed(Self.reason(code))
            } else if let http = response as? HTTPURLResponse {
                switch http.statusCode {
                case 200..<300: outcome = .ok(data ?? Data())
                case 404: outcome = .notFound
                default: outcome = .status(http.statusCode)
                }
            } else {
                outcome = .failed("not an HTTP answer")
            }
            result.withLock { $0 = outcome }
            done.signal()
        }
        task.resume()
        // The session's own timer ends the task; this bound only guards against it never firing.
        if done.wait(timeout: .now() + timeout + 2) == .timedOut {
            task.cancel()
            return .timedOut
        }
        return result.withLock { $0 }
    }

    /// A reason naming the failure, never the URL (it could carry credentials).
    private static func reason(_ code: Int) -> String {
        switch code {
        case NSURLErrorCannotConnectToHost: return "connection refused"
        case NSURLErrorNetworkConnectionLost: return "connection lost"
        case NSURLErrorCannotFindHost, NSURLErrorDNSLookupFailed: return "host not found"
        case NSURLErrorNotConnectedToInternet: return "no network"
        case NSURLErrorSecureConnectionFailed, NSURLErrorServerCertificateUntrusted, NSURLErrorServerCertificateHasBadDate,
             NSURLErrorServerCertificateNotYetValid, NSURLErrorServerCertificateHasUnknownRoot:
            return "TLS failure"
        case NSURLErrorBadServerResponse: return "bad server response"
        default: return "network error \(code)"
        }
    }
}
