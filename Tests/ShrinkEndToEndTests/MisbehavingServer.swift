import Foundation
import Synchronization

/// A tiny HTTP/1.1 server on a loopback port that misbehaves on purpose: it hangs after accepting,
/// answers 5xx, truncates bodies, serves wrong bytes or refuses writes. Sockets and threads only,
/// so it fails exactly the way it is told to.
final class MisbehavingServer: Sendable {
    /// What the server does with a request.
    enum Behaviour: Sendable {
        /// Accept, read, never answer.
        case hang
        /// Answer every request with this status and no body.
        case status(Int)
        /// Serve files of a folder for GET/HEAD (`/ac/…`, `/cas/…`), but cut every body in half
        /// while announcing its full length, then close.
        case truncate(URL)
        /// Serve 200 with these bytes for every GET, whatever was asked.
        case garbage(Data)
        /// Serve a folder for GET/HEAD and answer PUT with 403.
        case readOnlyFolder(URL)
    }

    let port: Int
    private let listener: Int32
    private let behaviour: Behaviour
    private let counters = Mutex<(requests: Int, puts: Int, open: [Int32])>((0, 0, []))

    var url: String { "http://127.0.0.1:\(port)" }
    /// Requests received so far (all methods), and PUTs among them.
    var requests: Int { counters.withLock { $0.requests } }
    var puts: Int { counters.withLock { $0.puts } }

    init(_ behaviour: Behaviour) throws {
        self.behaviour = behaviour
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = FreePort.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw TestFailure("cannot listen on loopback")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = Int(UInt16(bigEndian: address.sin_port))
        listener = fd
        let thread = Thread { [self] in acceptLoop() }
        thread.start()
    }

    /// Closes the listener and every open connection.
    func stop() {
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
        for fd in counters.withLock({ $0.open }) { shutdown(fd, Int32(SHUT_RDWR)); close(fd) }
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR { continue }
                return
            }
            counters.withLock { $0.open.append(client) }
            Thread { [self] in serve(client) }.start()
        }
    }

    private func serve(_ fd: Int32) {
        while let (method, path) = readRequest(fd) {
            counters.withLock {
                $0.requests += 1
                if method == "PUT" { $0.puts += 1 }
            }
            switch behaviour {
            case .hang:
                // Keep the connection open and say nothing; stop() closes it.
                return
            case .status(let code):
                respond(fd, code, body: Data())
            case .garbage(let bytes):
                respond(fd, method == "PUT" ? 201 : 200, body: method == "GET" ? bytes : Data())
            case .truncate(let folder):
                guard method == "GET" || method == "HEAD", let data = try? Data(contentsOf: folder.appendingPathComponent(String(path.dropFirst()))) else {
                    respond(fd, method == "PUT" ? 201 : 404, body: Data())
                    continue
                }
                let head = "HTTP/1.1 200 OK\r\nContent-Length: \(data.count)\r\nConnection: close\r\n\r\n"
                send(fd, Data(head.utf8))
                if method == "GET" { send(fd, data.prefix(data.count / 2)) }
                shutdown(fd, Int32(SHUT_RDWR))
                return
            case .readOnlyFolder(let folder):
                if method == "PUT" {
                    respond(fd, 403, body: Data())
                } else if let data = try? Data(contentsOf: folder.appendingPathComponent(String(path.dropFirst()))) {
                    respond(fd, 200, body: method == "GET" ? data : Data(), length: data.count)
                } else {
                    respond(fd, 404, body: Data())
                }
            }
        }
        shutdown(fd, Int32(SHUT_RDWR))
    }

    private func respond(_ fd: Int32, _ code: Int, body: Data, length: Int? = nil) {
        let head = "HTTP/1.1 \(code) Test\r\nContent-Length: \(length ?? body.count)\r\n\r\n"
        send(fd, Data(head.utf8) + body)
    }

    private func send(_ fd: Int32, _ data: Data) {
        data.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = Foundation.send(fd, raw.baseAddress! + offset, raw.count - offset, Int32(MSG_NOSIGNAL))
                if n <= 0 { return }
                offset += n
            }
        }
    }

    /// Reads one request (headers and a Content-Length body); nil at end of stream.
    private func readRequest(_ fd: Int32) -> (String, String)? {
        var buffer = Data()
        var chunk = [UInt8](repeating: 0, count: 65536)
        let separator = Data("\r\n\r\n".utf8)
        while buffer.range(of: separator) == nil {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return nil }
            buffer.append(contentsOf: chunk[0..<n])
        }
        let end = buffer.range(of: separator)!
        let head = String(decoding: buffer[..<end.lowerBound], as: UTF8.self)
        let lines = head.split(separator: "\r\n")
        let words = lines.first?.split(separator: " ") ?? []
        guard words.count >= 2 else { return nil }
        var length = 0
        for line in lines.dropFirst() where line.lowercased().hasPrefix("content-length:") {
            length = Int(line.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        var body = buffer.count - end.upperBound
        while body < length {
            let n = recv(fd, &chunk, min(chunk.count, length - body), 0)
            if n <= 0 { return nil }
            body += n
        }
        return (String(words[0]), String(words[1]))
    }
}
