import Foundation

/// The `machine` entries of a `~/.netrc` file (`machine HOST login USER password SECRET`, plus
/// `default`), for Basic authentication to the remote cache. Only the fields Shrink needs are read;
/// `macdef` bodies are skipped.
struct Netrc: Sendable {
    struct Entry: Sendable, Equatable {
        var login: String
        var password: String
    }

    var machines: [String: Entry] = [:]
    var fallback: Entry?

    /// Parses netrc text; unknown tokens are ignored.
    init(_ text: String) {
        var tokens: [String] = []
        var skippingMacro = false
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if skippingMacro {
                if line.trimmingCharacters(in: .whitespaces).isEmpty { skippingMacro = false }
                continue
            }
            let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" }).map(String.init)
            if words.first == "macdef" {
                skippingMacro = true
                continue
            }
            if words.first?.hasPrefix("#") == true { continue }
            tokens += words
        }
        var current: String?? = nil  // .some(nil): default
        var entry = Entry(login: "", password: "")
        func flush() {
            guard let machine = current else { return }
            if let name = machine { machines[name.lowercased()] = entry } else { fallback = entry }
        }
        var i = 0
        while i < tokens.count {
            let token = tokens[i]
            let value = i + 1 < tokens.count ? tokens[i + 1] : ""
            switch token {
            case "machine":
                flush()
                current = .some(value)
                entry = Entry(login: "", password: "")
                i += 2
            case "default":
                flush()
                current = .some(nil)
                entry = Entry(login: "", password: "")
                i += 1
            case "login":
                entry.login = value
                i += 2
            case "password":
                entry.password = value
                i += 2
            case "account":
                i += 2
            default:
                i += 1
            }
        }
        flush()
    }

    /// The entry for `host`, else the `default` one.
    func entry(for host: String) -> Entry? {
        machines[host.lowercased()] ?? fallback
    }

    /// `~/.netrc` (or `$NETRC`), if readable.
    static func load(environment: [String: String]) -> Netrc? {
        let path = environment["NETRC"] ?? (environment["HOME"].map { $0 + "/.netrc" } ?? NSHomeDirectory() + "/.netrc")
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        return Netrc(text)
    }
}
