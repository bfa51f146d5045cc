/// A rendered message split where a DKIM signer needs it: the header fields in order,
/// already encoded and folded, and the body (everything after the empty line).
///
/// Signing with ``DKIMSigner``:
/// ```swift
/// let parts = try message.renderParts()
/// let signature = try signer.signatureHeader(headers: parts.headers, body: parts.body)
/// let wire = parts.bytes(prepending: [signature])
/// ```
public struct RenderedMessage: Sendable {
    /// From, Reply-To, To, Subject, Date, Message-ID, the extra headers, MIME-Version,
    /// Content-Type and (single part) Content-Transfer-Encoding, in that order. `value`
    /// is exactly what follows the colon on the wire: a leading space, folding as
    /// CRLF + space, no final CRLF (empty for an empty value: `Subject:`).
    public let headers: [(name: String, value: String)]
    /// The body in wire form: CRLF line breaks, ends with CRLF, every line ≤ 998 octets.
    public let body: [UInt8]
    /// See ``Message/requiresSMTPUTF8``.
    public let requiresSMTPUTF8: Bool

    public init(headers: [(name: String, value: String)], body: [UInt8], requiresSMTPUTF8: Bool) {
        self.headers = headers
        self.body = body
        self.requiresSMTPUTF8 = requiresSMTPUTF8
    }

    /// The whole message: the `prepending` fields first (complete fields such as
    /// `DKIM-Signature: …`, without their final CRLF), then ``headers``, an empty line and
    /// ``body``. With nothing prepended it equals ``Message/render()``.
    public func bytes(prepending fields: [String] = []) -> [UInt8] {
        var size = body.count + 2
        for field in fields { size += field.utf8.count + 2 }
        for field in headers { size += field.name.utf8.count + field.value.utf8.count + 3 }
        var out: [UInt8] = []
        out.reserveCapacity(size)
        for field in fields {
            out.append(contentsOf: field.utf8)
            out.append(contentsOf: [0x0D, 0x0A])
        }
        for field in headers {
            out.append(contentsOf: field.name.utf8)
            out.append(0x3A)
            out.append(contentsOf: field.value.utf8)
            out.append(contentsOf: [0x0D, 0x0A])
        }
        out.append(contentsOf: [0x0D, 0x0A])
        out.append(contentsOf: body)
        return out
    }
}

extension Message {
    /// The complete message in wire form (CRLF line breaks, ending in CRLF), ready for
    /// SMTP DATA (dot-stuffing is the transport's job).
    ///
    /// Single body: `text/plain` or `text/html; charset=utf-8`. Both: a
    /// `multipart/alternative` with the text part first. Each part is 7bit when it is
    /// ASCII with lines ≤ 78 octets, otherwise quoted-printable, or base64 when that is
    /// smaller (mostly non-Latin text). A single-part 7bit body that does not end with a
    /// line break gets one; in every other case the decoded bodies equal the input with
    /// line breaks as CRLF.
    ///
    /// Rendering is deterministic: the multipart boundary derives from the Message-ID,
    /// so the same `Message` always renders to the same bytes.
    public func render() throws(MailError) -> [UInt8] {
        let top = try encodedHeaders()
        var prefix: [UInt8] = []
        prefix.reserveCapacity(top.reduce(0) { $0 + $1.name.utf8.count + $1.value.count + 4 })
        for field in top { HeaderFieldWriter.append(name: field.name.utf8, value: field.value, to: &prefix) }
        return withBodies { text, html in MIMEAssembler.assemble(prefix: prefix, text: text, html: html, seed: messageID).bytes }
    }

    /// The message split into encoded header fields and body bytes, for DKIM signing:
    /// sign ``RenderedMessage/headers`` and ``RenderedMessage/body``, then send
    /// `parts.bytes(prepending: [signatureField])`. `render()` equals `renderParts().bytes()`.
    public func renderParts() throws(MailError) -> RenderedMessage {
        let top = try encodedHeaders()
        let (mime, body) = withBodies { text, html in
            let assembled = MIMEAssembler.assemble(prefix: nil, text: text, html: html, seed: messageID)
            return (assembled.mimeHeaders, assembled.bytes)
        }
        var fields: [(name: String, value: String)] = []
        fields.reserveCapacity(top.count + mime.count)
        for field in top + mime {
            fields.append((field.name, field.value.isEmpty ? "" : " " + String(decoding: field.value, as: UTF8.self)))
        }
        return RenderedMessage(headers: fields, body: body, requiresSMTPUTF8: requiresSMTPUTF8)
    }

    /// Calls `body` with the UTF-8 of the text and HTML bodies (no copy for native strings).
    private func withBodies<R>(
        _ body: (UnsafeBufferPointer<UInt8>?, UnsafeBufferPointer<UInt8>?) -> R
    ) -> R {
        var text = textBody ?? ""
        var html = htmlBody ?? ""
        let hasText = textBody != nil
        let hasHTML = htmlBody != nil
        return text.withUTF8 { t in
            html.withUTF8 { h in body(hasText ? t : nil, hasHTML ? h : nil) }
        }
    }

    /// From, Reply-To, To, Subject, Date, Message-ID and the extra headers, encoded and folded.
    func encodedHeaders() throws(MailError) -> [(name: String, value: [UInt8])] {
        var fields: [(name: String, value: [UInt8])] = []
        fields.reserveCapacity(9 + headers.count)
        var from = HeaderFieldWriter(name: "From")
        try from.appendMailbox(self.from)
        fields.append(("From", from.value))
        if let replyTo {
            var writer = HeaderFieldWriter(name: "Reply-To")
            try writer.appendMailbox(replyTo)
            fields.append(("Reply-To", writer.value))
        }
        if !to.isEmpty {
            var writer = HeaderFieldWriter(name: "To")
            try writer.appendMailboxes(to)
            fields.append(("To", writer.value))
        }
        var subject = HeaderFieldWriter(name: "Subject")
        try subject.appendUnstructured(self.subject, encodeLongWords: true)
        fields.append(("Subject", subject.value))
        fields.append(("Date", Self.rfc5322DateBytes(date)))
        var id: [UInt8] = [0x3C]
        id.append(contentsOf: messageID.utf8)
        id.append(0x3E)
        fields.append(("Message-ID", id))
        for (name, value) in headers {
            var writer = HeaderFieldWriter(name: name)
            try writer.appendUnstructured(value, encodeLongWords: false)
            fields.append((name, writer.value))
        }
        return fields
    }
}
