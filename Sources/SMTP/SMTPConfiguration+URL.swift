import NIOCore

extension SMTPConfiguration {
    /// Parses `smtp://user:pass@host:587?tls=starttls`, `smtps://host:465` or `smtp://host:25`.
    ///
    /// Query options: `tls=none|starttls|opportunistic` (smtp only), `verify=true|false`, `ca=/path.pem`,
    /// `helo=name`, `max_connections=n`, `max_messages=n`, `idle_timeout=seconds`, `timeout=seconds` (all phases).
    /// Unknown options are refused so that a typo cannot silently weaken TLS.
    public init(url: String) throws(SMTPError) {
        func fail(_ message: String) -> SMTPError { .invalidConfiguration("invalid SMTP URL: \(message)") }

        guard let schemeEnd = url.firstRange(of: "://") else { throw fail("missing scheme, expected smtp:// or smtps://") }
        let scheme = url[..<schemeEnd.lowerBound].lowercased()
        var rest = url[schemeEnd.upperBound...]
        guard scheme == "smtp" || scheme == "smtps" else { throw fail("unsupported scheme '\(scheme)', expected smtp or smtps") }

        var query: Substring = ""
        if let mark = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: mark)...]
            rest = rest[..<mark]
        }
        if let fragment = query.firstIndex(of: "#") { query = query[..<fragment] }
        if rest.hasSuffix("/") { rest = rest.dropLast() }
        guard !rest.contains("/") else { throw fail("unexpected path in '\(url)'") }

        var credentials: Credentials?
        if let at = rest.lastIndex(of: "@") {
            let userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
            guard let colon = userInfo.firstIndex(of: ":") else { throw fail("user given without a password") }
            guard let user = Self.percentDecode(userInfo[..<colon]), !user.isEmpty else { throw fail("bad or empty user name") }
            guard let password = Self.percentDecode(userInfo[userInfo.index(after: colon)...]) else {
                throw fail("bad percent-encoding in password")
            }
            credentials = Credentials(username: user, password: password)
        }

        var host: Substring
        var portText: Substring?
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("unterminated IPv6 address") }
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { throw fail("unexpected characters after IPv6 address") }
                portText = after.dropFirst()
            }
        } else if let colon = rest.lastIndex(of: ":") {
            host = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            host = rest
        }
        guard !host.isEmpty else { throw fail("missing host") }
        var port: Int?
        if let portText {
            guard let value = Int(portText), (1...65535).contains(value) else { throw fail("invalid port '\(portText)'") }
            port = value
        }

        var tlsMode: TLSMode = scheme == "smtps" ? .implicit : .none
        var options: [(String, String)] = []
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = Self.percentDecode(parts[0]), let value = Self.percentDecode(parts.count > 1 ? parts[1] : "") else {
                throw fail("bad percent-encoding in '\(pair)'")
            }
            options.append((key.lowercased(), value))
        }
        if let tls = options.last(where: { $0.0 == "tls" })?.1 {
            guard let mode = TLSMode(rawValue: tls.lowercased()), mode != .implicit else {
                throw fail("tls must be none, starttls or opportunistic, not '\(tls)'")
            }
            guard scheme == "smtp" else { throw fail("tls=\(tls) cannot be combined with smtps://, which is already TLS") }
            tlsMode = mode
        }

        self.init(host: String(host), port: port, tlsMode: tlsMode, credentials: credentials)
        for (key, value) in options {
            switch key {
            case "tls": break
            case "verify":
                guard let flag = ["true": true, "1": true, "false": false, "0": false][value.lowercased()] else {
                    throw fail("verify must be true or false, not '\(value)'")
                }
                verifyCertificate = flag
            case "ca":
                guard !value.isEmpty else { throw fail("ca needs a file path") }
                caFilePath = value
            case "helo":
                guard !value.isEmpty, value.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
                    throw fail("helo must be a non-empty name without spaces or control characters")
                }
                heloName = value
            case "max_connections":
                guard let count = Int(value), count > 0 else { throw fail("max_connections must be a positive integer, not '\(value)'") }
                maximumConnections = count
            case "max_messages":
                guard let count = Int(value), count > 0 else { throw fail("max_messages must be a positive integer, not '\(value)'") }
                maximumMessagesPerConnection = count
            case "timeout", "idle_timeout":
                guard let seconds = Double(value), seconds > 0, seconds < 86400 else {
                    throw fail("\(key) must be a positive number of seconds, not '\(value)'")
                }
                let amount = TimeAmount.nanoseconds(Int64(seconds * 1_000_000_000))
                if key == "timeout" { timeouts = SMTPTimeouts(all: amount) } else { idleTimeout = amount }
            default:
                throw fail("unknown option '\(key)'")
            }
        }
    }

    private static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var iterator = text.utf8.makeIterator()
        while let byte = iterator.next() {
            guard byte == UInt8(ascii: "%") else {
                bytes.append(byte)
                continue
            }
            guard let high = iterator.next().flatMap(hexValue), let low = iterator.next().flatMap(hexValue) else { return nil }
            bytes.append(high << 4 | low)
        }
        return String(validating: bytes, as: UTF8.self)
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }
}
