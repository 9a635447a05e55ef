import Foundation
import Testing

/// A real nginx serving a WebDAV folder as a team cache on a free loopback port, started and
/// stopped by the test by PID. Its configuration, pid, logs and temp files live in one folder.
///
/// Facts for a sandbox where tests run as root: the server block needs `dav_methods PUT DELETE;`
/// and `create_full_put_path on;`, the main config `user root;` (the default worker user cannot
/// create folders) and `client_max_body_size 0;` (the 1 MB default answers 413 to a model).
final class NginxServer: @unchecked Sendable {
    let folder: URL
    let port: Int
    private let process: Process

    /// What is served: `data/ac/<key>`, `data/cas/<digest>`.
    var data: URL { folder.appendingPathComponent("data") }
    var url: String { "http://127.0.0.1:\(port)" }

    init() throws {
        let fm = FileManager.default
        folder = fm.temporaryDirectory.appendingPathComponent("shrink-nginx-\(UUID().uuidString)")
        for sub in ["data", "tmp"] { try fm.createDirectory(at: folder.appendingPathComponent(sub), withIntermediateDirectories: true) }
        let binary = ["/usr/sbin/nginx", "/usr/bin/nginx"].first { fm.isExecutableFile(atPath: $0) }
        guard let binary else {
            throw TestFailure("nginx is not installed; `make test` installs it (scripts/install-deps.sh), or `apt-get install nginx`")
        }
        var lastError = ""
        for _ in 0..<5 {
            let port = try FreePort.find()
            let dir = folder.path
            let conf = """
            user root;
            worker_processes 1;
            daemon off;
            master_process on;
            pid \(dir)/nginx.pid;
            error_log \(dir)/error.log warn;
            events { worker_connections 256; }
            http {
                access_log \(dir)/access.log;
                client_body_temp_path \(dir)/tmp/body;
                proxy_temp_path \(dir)/tmp/proxy;
                fastcgi_temp_path \(dir)/tmp/fastcgi;
                uwsgi_temp_path \(dir)/tmp/uwsgi;
                scgi_temp_path \(dir)/tmp/scgi;
                client_max_body_size 0;
                server {
                    listen 127.0.0.1:\(port);
                    root \(dir)/data;
                    location / {
                        dav_methods PUT DELETE;
                        create_full_put_path on;
                        dav_access user:rw group:r all:r;
                    }
                }
            }
            """
            try Data(conf.utf8).write(to: folder.appendingPathComponent("nginx.conf"))
            let p = Process()
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = ["-p", dir, "-c", "\(dir)/nginx.conf", "-e", "\(dir)/error.log"]
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            if FreePort.waitUntilListening(port, seconds: 5) && p.isRunning {
                self.port = port
                process = p
                return
            }
            p.terminate()
            p.waitUntilExit()
            lastError = (try? String(contentsOf: folder.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
        }
        throw TestFailure("nginx did not start: \(lastError)")
    }

    /// Stops nginx (SIGTERM to the master, which ends its worker) and waits for it.
    func stop() {
        guard process.isRunning else { return }
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }

    /// Stops nginx and removes its folder.
    func remove() {
        stop()
        try? FileManager.default.removeItem(at: folder)
    }

    /// The requests nginx logged: `METHOD /path status`.
    func requests() -> [String] {
        let log = (try? String(contentsOf: folder.appendingPathComponent("access.log"), encoding: .utf8)) ?? ""
        return log.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: "\"")
            guard parts.count > 2 else { return nil }
            let request = parts[1].split(separator: " ")
            let status = parts[2].split(separator: " ").first ?? ""
            guard request.count >= 2 else { return nil }
            return "\(request[0]) \(request[1]) \(status)"
        }
    }

    /// Files under `data/<area>` (`ac` or `cas`).
    func entries(_ area: String) -> [URL] {
        let dir = data.appendingPathComponent(area)
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir.path)) ?? []).sorted().map { dir.appendingPathComponent($0) }
    }
}

struct TestFailure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}

/// Loopback ports for test servers.
enum FreePort {
    /// A port nothing listens on right now (bound to port 0, read back, closed).
    static func find() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestFailure("socket() failed") }
        defer { close(fd) }
        var address = loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0 else { throw TestFailure("bind() failed") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return Int(UInt16(bigEndian: address.sin_port))
    }

    static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }

    /// Whether something accepts connections on the port within `seconds`.
    static func waitUntilListening(_ port: Int, seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var address = loopback(port: port)
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            close(fd)
            if connected == 0 { return true }
            usleep(20_000)
        }
        return false
    }
}
