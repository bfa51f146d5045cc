import Foundation

/// Makes `DKIM-Signature` header fields (RFC 6376; Ed25519 per RFC 8463) with
/// `c=relaxed/relaxed`, `t=` and, optionally, `x=`.
///
/// Dual signing (RSA and Ed25519, as RFC 8463 recommends) is two signers, one per key,
/// each prepending its field, or ``sign(message:with:timestamp:)``, which hashes the body
/// once. `DKIM-Signature` fields are never signed, so their order does not matter.
///
/// Signed fields: every field of ``signedHeaders`` that the message has, every instance
/// of it (bottom-up, RFC 6376 §5.4.2). The names in ``overSignedHeaders`` that the message
/// has are listed once more in `h=`: the extra entry stands for "no further instance", so
/// a second `From` (or `Subject`, `List-Unsubscribe` …) added on the way breaks the
/// signature instead of being shown to the reader under our domain (§8.15). Fields that
/// the message lacks are not over-signed, so relays that add e.g. `Reply-To` or `Cc` to
/// a message without one do not break it.
public struct DKIMSigner: Sendable {
    /// From, To, Subject, Date, Message-ID, the MIME fields, both List-Unsubscribe fields
    /// (RFC 8058 §4 requires them signed for one-click unsubscribe) and Reply-To.
    public static let defaultSignedHeaders = [
        "from", "to", "subject", "date", "message-id", "mime-version", "content-type",
        "content-transfer-encoding", "list-unsubscribe", "list-unsubscribe-post", "reply-to",
    ]
    /// The fields a reader sees or a mailbox provider acts on.
    public static let defaultOverSignedHeaders = [
        "from", "to", "subject", "reply-to", "list-unsubscribe", "list-unsubscribe-post",
    ]

    /// `d=`: the signing domain, in ASCII (A-label) form.
    public let domain: String
    /// `s=`: the selector; the key record lives at `<selector>._domainkey.<domain>`.
    public let selector: String
    public let key: DKIMKey
    /// Lowercased field names to sign when present, in `h=` order. Always includes `from`.
    public let signedHeaders: [String]
    /// Lowercased field names listed once more than present (see the type's documentation).
    public let overSignedHeaders: Set<String>
    /// When set, `x=` is `t=` plus this many seconds.
    public let signatureLifetime: Int?

    /// `a=`: follows the key, `rsa-sha256` or `ed25519-sha256`.
    public var algorithm: DKIMKey.Algorithm { key.algorithm }

    public init(
        domain: String, selector: String, key: DKIMKey,
        signedHeaders: [String] = DKIMSigner.defaultSignedHeaders,
        overSignedHeaders: [String] = DKIMSigner.defaultOverSignedHeaders,
        signatureLifetime: Int? = nil
    ) throws(DKIMError) {
        let domain = domain.lowercased()
        for (tag, value) in [("d", domain), ("s", selector)] {
            let labels = value.split(separator: ".", omittingEmptySubsequences: false)
            guard value.utf8.count <= 253, labels.allSatisfy({ (1...63).contains($0.utf8.count) && $0.utf8.allSatisfy(Self.isLabelByte) })
            else {
                throw DKIMError(.invalidConfiguration, "DKIM \(tag)= '\(value)' is not an ASCII domain name (use A-labels)")
            }
        }
        var names: [String] = []
        for name in signedHeaders.map({ $0.lowercased() }) where !names.contains(name) {
            guard Self.isFieldName(name.utf8[...]) else {
                throw DKIMError(.invalidConfiguration, "'\(name)' is not a header field name")
            }
            guard name != "dkim-signature" else {
                throw DKIMError(.invalidConfiguration, "a DKIM-Signature field cannot sign itself")
            }
            names.append(name)
        }
        guard names.contains("from") else {
            throw DKIMError(.invalidConfiguration, "DKIM must sign the From field (RFC 6376 §5.4)")
        }
        if let lifetime = signatureLifetime, lifetime <= 0 {
            throw DKIMError(.invalidConfiguration, "DKIM signature lifetime must be positive")
        }
        self.domain = domain
        self.selector = selector
        self.key = key
        self.signedHeaders = names
        self.overSignedHeaders = Set(overSignedHeaders.map { $0.lowercased() })
        self.signatureLifetime = signatureLifetime
    }

    /// The `DKIM-Signature` field for a message, signed now. See
    /// ``signatureHeader(headers:body:timestamp:)``.
    public func signatureHeader(headers: [(name: String, value: String)], body: [UInt8]) throws(DKIMError) -> String {
        try signatureHeader(headers: headers, body: body[...], timestamp: Int(Date().timeIntervalSince1970))
    }

    /// The complete `DKIM-Signature: …` field, lines at most 78 characters (unless `d=` or
    /// `s=` alone is longer), continuation lines joined by CRLF + space, **without** a final
    /// CRLF. Put it above the other fields.
    ///
    /// - Parameters:
    ///   - headers: the message's fields in wire order, `value` exactly as written after the
    ///     colon (leading space and folding CRLFs included, no final CRLF).
    ///   - body: the body as sent, after the empty line.
    ///   - timestamp: `t=`, seconds since 1970.
    public func signatureHeader(
        headers: [(name: String, value: String)], body: ArraySlice<UInt8>, timestamp: Int
    ) throws(DKIMError) -> String {
        let bodyHash = DKIMCanonicalization.relaxedBodyHash(body)
        return String(decoding: try field(headers: headers, bodyHash: bodyHash, timestamp: timestamp), as: UTF8.self)
    }

    /// The `DKIM-Signature` fields of several signers (dual signing) for one message, with the
    /// body canonicalized and hashed once for all of them: every signer uses relaxed body
    /// canonicalization and SHA-256, so the body hash is the same.
    public static func signatureHeaders(
        headers: [(name: String, value: String)], body: ArraySlice<UInt8>, signers: [DKIMSigner], timestamp: Int? = nil
    ) throws(DKIMError) -> [String] {
        guard !signers.isEmpty else { return [] }
        let bodyHash = DKIMCanonicalization.relaxedBodyHash(body)
        let timestamp = timestamp ?? Int(Date().timeIntervalSince1970)
        var fields: [String] = []
        for signer in signers {
            fields.append(String(decoding: try signer.field(headers: headers, bodyHash: bodyHash, timestamp: timestamp), as: UTF8.self))
        }
        return fields
    }

    /// Signs a raw message (CRLF line endings; header, empty line, body) and returns it
    /// with the `DKIM-Signature` field prepended. A message without an empty line is all
    /// header and has an empty body.
    public func sign(message: [UInt8]) throws(DKIMError) -> [UInt8] {
        try Self.sign(message: message, with: [self], timestamp: Int(Date().timeIntervalSince1970))
    }

    /// ``sign(message:)`` with a given `t=`.
    public func sign(message: [UInt8], timestamp: Int) throws(DKIMError) -> [UInt8] {
        try Self.sign(message: message, with: [self], timestamp: timestamp)
    }

    /// Signs a raw message with several signers (dual signing: RSA and Ed25519), splitting
    /// it and hashing its body once; their fields come first, in the order given.
    public static func sign(message: [UInt8], with signers: [DKIMSigner], timestamp: Int? = nil) throws(DKIMError) -> [UInt8] {
        let (headers, body) = try split(message: message)
        let bodyHash = DKIMCanonicalization.relaxedBodyHash(body)
        let timestamp = timestamp ?? Int(Date().timeIntervalSince1970)
        var out: [UInt8] = []
        for signer in signers {
            let field = try signer.field(headers: headers, bodyHash: bodyHash, timestamp: timestamp)
            if out.isEmpty { out.reserveCapacity(signers.count * (field.count + 2) + message.count) }
            out.append(contentsOf: field)
            out.append(contentsOf: [0x0D, 0x0A])
        }
        out.append(contentsOf: message)
        return out
    }

    private func field(headers: [(name: String, value: String)], bodyHash: [UInt8], timestamp: Int) throws(DKIMError) -> [UInt8] {
        var hashed: [UInt8] = []
        hashed.reserveCapacity(2048)
        var tagList: [String] = []
        for name in signedHeaders {
            var present = false
            for field in headers.reversed() where Self.sameName(field.name, name) {
                guard DKIMCanonicalization.appendCheckedRelaxedHeader(name: name, value: field.value, to: &hashed) else {
                    throw DKIMError(.invalidMessage, "the \(field.name) field contains a CR, LF or NUL that is not folding")
                }
                hashed.append(contentsOf: [0x0D, 0x0A])
                tagList.append(name)
                present = true
            }
            if present && overSignedHeaders.contains(name) { tagList.append(name) }
        }
        guard tagList.contains("from") else { throw DKIMError(.invalidMessage, "the message has no From field to sign") }

        var folder = HeaderFolder(start: Self.fieldName + ":")
        folder.add("v=1;", "a=\(algorithm.rawValue);", "c=relaxed/relaxed;", "d=\(domain);", "s=\(selector);", "t=\(timestamp);")
        if let lifetime = signatureLifetime { folder.add("x=\(timestamp + lifetime);") }
        folder.addList(tag: "h=", items: tagList, separator: ":")
        folder.addBase64(tag: "bh=", Data(bodyHash).base64EncodedString() + ";")
        folder.add("b=")
        // The field as hashed has an empty b= (RFC 6376 §3.7); the verifier removes the
        // value and any folding inside it, so the text up to "b=" is all that counts.
        let nameLength = Self.fieldName.utf8.count
        _ = folder.bytes.withUnsafeBufferPointer { field in
            DKIMCanonicalization.appendRelaxedHeader(
                name: UnsafeBufferPointer(rebasing: field[..<nameLength]), value: UnsafeBufferPointer(rebasing: field[(nameLength + 1)...]),
                to: &hashed)
        }
        let signature = try key.signature(for: hashed)
        folder.addBase64(tag: nil, Data(signature).base64EncodedString())
        return folder.bytes
    }

    /// Splits a raw CRLF message into its fields (value as written after the colon,
    /// folding kept) and its body (after the first empty line).
    public static func split(message: [UInt8]) throws(DKIMError) -> (headers: [(name: String, value: String)], body: ArraySlice<UInt8>) {
        var headers: [(name: String, value: String)] = []
        var lineStart = 0
        var fieldStart = -1
        var colon = -1
        var index = 0
        let count = message.count
        func flush() {  // the field that ends before lineStart
            guard fieldStart >= 0 else { return }
            let name = String(decoding: message[fieldStart..<colon], as: UTF8.self)
            headers.append((name, String(decoding: message[(colon + 1)..<(lineStart - 2)], as: UTF8.self)))
        }
        while index < count {
            guard let lf = message[index...].firstIndex(of: 0x0A) else {
                throw DKIMError(.invalidMessage, "the header section does not end with CRLF")
            }
            guard lf > index, message[lf - 1] == 0x0D else {
                throw DKIMError(.invalidMessage, "bare LF in the header section; use CRLF line endings")
            }
            let line = message[index..<(lf - 1)]
            lineStart = index
            if line.isEmpty {
                flush()
                return (headers, message[(lf + 1)...])
            }
            if line.first == 0x20 || line.first == 0x09 {
                guard fieldStart >= 0 else { throw DKIMError(.invalidMessage, "the message starts with a continuation line") }
            } else {
                flush()
                guard let c = line.firstIndex(of: 0x3A), isFieldName(message[index..<c]) else {
                    throw DKIMError(.invalidMessage, "malformed header line: \(String(decoding: line.prefix(60), as: UTF8.self))")
                }
                fieldStart = index
                colon = c
            }
            index = lf + 1
        }
        lineStart = count
        flush()
        return (headers, [])
    }

    private static let fieldName = "DKIM-Signature"

    /// Case-insensitive ASCII comparison of a field name with a lowercased one.
    private static func sameName(_ name: String, _ lowercased: String) -> Bool {
        name.utf8.count == lowercased.utf8.count
            && zip(name.utf8, lowercased.utf8).allSatisfy { ($0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0) == $1 }
    }

    /// `[0-9A-Za-z_-]`
    private static func isLabelByte(_ b: UInt8) -> Bool {
        (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x2D || b == 0x5F
    }

    /// RFC 5322 field name: printable ASCII except ":".
    private static func isFieldName(_ bytes: some Collection<UInt8>) -> Bool {
        !bytes.isEmpty && bytes.allSatisfy { $0 >= 0x21 && $0 <= 0x7E && $0 != 0x3A }
    }
}

/// Builds a folded header field: items separated by a space, a new line (CRLF + one
/// space) whenever the next item would pass column 78.
private struct HeaderFolder {
    private(set) var bytes: [UInt8] = []
    private var column: Int
    private static let limit = 78

    init(start: String) {
        bytes.reserveCapacity(640)
        bytes.append(contentsOf: start.utf8)
        column = bytes.count
    }

    mutating func add(_ items: String...) {
        for item in items { place(item, separated: true) }
    }

    /// `h=a:b:c;` may break after any colon.
    mutating func addList(tag: String, items: [String], separator: String) {
        for (i, item) in items.enumerated() {
            let piece = (i == 0 ? tag : "") + item + (i == items.count - 1 ? ";" : separator)
            place(piece, separated: i == 0)
        }
    }

    /// Base64 may break anywhere (RFC 6376 §3.5: FWS is allowed inside b= and bh=).
    /// With a tag, starts a new item; without, continues right after the previous text.
    mutating func addBase64(tag: String?, _ value: String) {
        if let tag {
            if column + 1 + tag.utf8.count + 8 > Self.limit {  // keep the tag with some of its value
                bytes.append(contentsOf: [0x0D, 0x0A])
                column = 0
            }
            bytes.append(contentsOf: " \(tag)".utf8)
            column += 1 + tag.utf8.count
        }
        var rest = value.utf8[...]
        while !rest.isEmpty {
            if column >= Self.limit {
                bytes.append(contentsOf: [0x0D, 0x0A, 0x20])
                column = 1
            }
            let chunk = rest.prefix(Self.limit - column)
            bytes.append(contentsOf: chunk)
            column += chunk.count
            rest = rest.dropFirst(chunk.count)
        }
    }

    private mutating func place(_ item: String, separated: Bool) {
        let width = item.utf8.count + (separated ? 1 : 0)
        if column + width > Self.limit {
            bytes.append(contentsOf: [0x0D, 0x0A, 0x20])
            column = 1 + item.utf8.count
        } else {
            if separated { bytes.append(0x20) }
            column += width
        }
        bytes.append(contentsOf: item.utf8)
    }
}
