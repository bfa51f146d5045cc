import Foundation

/// An asynchronous bounce (RFC 3464 DSN, RFC 6533 for UTF-8) or complaint (RFC 5965 ARF), read from the raw message.
///
/// Facteur reads these from its return-path mailbox to stop mailing addresses that fail or complain;
/// `reportRecipients`, `originalMailFrom` and `originalMessageID` let the caller find the send they answer.
public struct BounceReport: Sendable, Equatable {
    /// What the report is about.
    public enum Kind: String, Sendable {
        /// A delivery status notification (RFC 3464 or RFC 6533).
        case delivery
        /// An abuse feedback report (RFC 5965).
        case complaint
    }

    /// One recipient the report is about.
    public struct Recipient: Sendable, Equatable {
        /// The address only, without its type (`rfc822; a@b` gives `a@b`); the domain is lowercased.
        public var finalRecipient: String
        /// The address the sender gave (ORCPT) when the MTA reports it, in the same form.
        public var originalRecipient: String?
        /// The action, lowercased (`failed`, `delayed`, `delivered`, `relayed`, `expanded`); `complained` for ARF.
        public var action: String
        /// The RFC 3463 status without comments, like `5.1.1`; empty for ARF, which has none.
        public var status: String
        /// The Diagnostic-Code as sent, unfolded, like `smtp; 550 5.1.1 User unknown`.
        public var diagnosticCode: String?
        /// The Remote-MTA's name without its type (`dns; mx.example.com` gives `mx.example.com`).
        public var remoteMTA: String?

        public init(
            finalRecipient: String,
            originalRecipient: String? = nil,
            action: String,
            status: String,
            diagnosticCode: String? = nil,
            remoteMTA: String? = nil
        ) {
            self.finalRecipient = finalRecipient
            self.originalRecipient = originalRecipient
            self.action = action
            self.status = status
            self.diagnosticCode = diagnosticCode
            self.remoteMTA = remoteMTA
        }
    }

    public var kind: Kind
    /// DSN: one per per-recipient group. ARF: one per Original-Rcpt-To, with action `complained` and
    /// an empty status; empty when the feedback provider redacts recipients.
    public var recipients: [Recipient]
    /// ARF's Feedback-Type, lowercased (`abuse`, `fraud`, `virus`, `other`, `not-spam`); nil for a DSN.
    public var feedbackType: String?
    /// The returned original's Message-ID without angle brackets.
    public var originalMessageID: String?
    /// The header fields of the returned original (full message or headers only), unfolded, in order.
    public var originalHeaders: [(name: String, value: String)]
    /// Addresses in the report's own To, Delivered-To and X-Original-To fields, so that a VERP return
    /// path (`bounces+TOKEN@example.com`) can be matched. Domains lowercased, duplicates dropped.
    public var reportRecipients: [String]
    /// The original envelope sender: ARF's Original-Mail-From, or a Postfix DSN's X-Postfix-Sender.
    public var originalMailFrom: String?
    /// The DSN's Original-Envelope-Id: the ENVID the sender gave at MAIL FROM, when it gave one.
    public var originalEnvelopeID: String?

    public static func == (lhs: BounceReport, rhs: BounceReport) -> Bool {
        lhs.kind == rhs.kind && lhs.recipients == rhs.recipients && lhs.feedbackType == rhs.feedbackType
            && lhs.originalMessageID == rhs.originalMessageID
            && lhs.originalHeaders.count == rhs.originalHeaders.count
            && zip(lhs.originalHeaders, rhs.originalHeaders).allSatisfy { $0.name == $1.name && $0.value == $1.value }
            && lhs.reportRecipients == rhs.reportRecipients && lhs.originalMailFrom == rhs.originalMailFrom
            && lhs.originalEnvelopeID == rhs.originalEnvelopeID
    }

    /// Larger input is refused before parsing: no real report comes near it.
    public static let maxBytes = 10 * 1024 * 1024

    /// Parses a whole report message (headers and body, as delivered to the mailbox).
    ///
    /// Throws `FacteurError` `.invalid` with a message that says what is missing or wrong.
    public static func parse(_ bytes: [UInt8]) throws -> BounceReport {
        guard bytes.count <= maxBytes else {
            throw FacteurError(.invalid, "the report is too large: \(bytes.count) bytes, the limit is \(maxBytes) (10 MiB)")
        }
        let message = try MIMEReader.parseMessage(bytes)
        guard !message.headers.fields.isEmpty else {
            throw FacteurError(.invalid, "not a MIME message: it does not start with header fields")
        }
        guard message.headers.first("content-type") != nil else {
            throw FacteurError(.invalid, "not a MIME message: it has no Content-Type header")
        }
        let report = try ReportParser.findReport(in: message)
        var result = try ReportParser.parseReport(report)
        result.reportRecipients = ReportParser.reportRecipients(of: message.headers)
        return result.withoutControlCharacters()
    }

    /// Header values come from anyone's mail server: NUL and other control characters (which the
    /// database refuses in text, and which `\x{…}` escapes can spell out) go, so every consumer of
    /// a parsed report gets text it can store.
    func withoutControlCharacters() -> BounceReport {
        func clean(_ text: String) -> String {
            String(String.UnicodeScalarView(text.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F || $0 == "\t" }))
        }
        var report = self
        report.originalMessageID = report.originalMessageID.map(clean)
        report.reportRecipients = report.reportRecipients.map(clean)
        report.feedbackType = report.feedbackType.map(clean)
        report.originalMailFrom = report.originalMailFrom.map(clean)
        report.originalEnvelopeID = report.originalEnvelopeID.map(clean)
        report.originalHeaders = report.originalHeaders.map { (clean($0.name), clean($0.value)) }
        report.recipients = report.recipients.map { recipient in
            var recipient = recipient
            recipient.finalRecipient = clean(recipient.finalRecipient)
            recipient.status = clean(recipient.status)
            recipient.action = clean(recipient.action)
            recipient.diagnosticCode = recipient.diagnosticCode.map(clean)
            recipient.remoteMTA = recipient.remoteMTA.map(clean)
            return recipient
        }
        return report
    }
}

/// The steps of `BounceReport.parse`, over an already read MIME tree.
private enum ReportParser {
    static let deliveryStatusTypes: Set = ["message/delivery-status", "message/global-delivery-status"]
    static let feedbackTypes: Set = ["message/feedback-report"]
    static let originalTypes: Set = ["message/rfc822", "message/global", "text/rfc822-headers", "message/global-headers"]

    /// The multipart/report at the top, or one level down inside another multipart, as some MTAs send it.
    static func findReport(in message: MIMEEntity) throws -> MIMEEntity {
        if message.contentType.mimeType == "multipart/report" {
            return message
        }
        if let nested = message.parts.first(where: { $0.contentType.mimeType == "multipart/report" }) {
            return nested
        }
        let found = message.contentType.mimeType
        let detail = message.contentType.isMultipart ? "\(found) without a multipart/report part" : found
        throw FacteurError(.invalid, "not a bounce or complaint report: expected multipart/report, found \(detail)")
    }

    static func parseReport(_ report: MIMEEntity) throws -> BounceReport {
        guard !report.parts.isEmpty else {
            let hasBoundary = !(report.contentType.parameters["boundary"] ?? "").isEmpty
            throw FacteurError(
                .invalid,
                hasBoundary
                    ? "the multipart/report has no parts: no line matches its boundary"
                    : "the multipart/report has no boundary parameter")
        }
        let original = originalHeaders(of: report)
        var result = BounceReport(
            kind: try kind(of: report), recipients: [], feedbackType: nil,
            originalMessageID: original.first("message-id").flatMap(withoutAngleBrackets),
            originalHeaders: original.fields.map { (name: $0.name, value: $0.value) },
            reportRecipients: [], originalMailFrom: nil, originalEnvelopeID: nil)
        switch result.kind {
        case .delivery: try readDeliveryStatus(of: report, into: &result)
        case .complaint: try readFeedback(of: report, into: &result)
        }
        return result
    }

    /// From report-type; when it is missing, from the parts present.
    private static func kind(of report: MIMEEntity) throws -> BounceReport.Kind {
        switch report.contentType.parameters["report-type"]?.lowercased() {
        case "delivery-status", "global-delivery-status":
            return .delivery
        case "feedback-report":
            return .complaint
        case let other?:
            throw FacteurError(.invalid, "unsupported report-type '\(clipped(other))': expected delivery-status or feedback-report")
        case nil:
            if report.parts.contains(where: { deliveryStatusTypes.contains($0.contentType.mimeType) }) { return .delivery }
            if report.parts.contains(where: { feedbackTypes.contains($0.contentType.mimeType) }) { return .complaint }
            throw FacteurError(.invalid, "the multipart/report has no report-type parameter")
        }
    }

    /// The header block of the returned original; empty when it is absent or unreadable, which is no reason to drop the report.
    private static func originalHeaders(of report: MIMEEntity) -> MIMEHeaders {
        guard let part = report.parts.first(where: { originalTypes.contains($0.contentType.mimeType) }),
            let (headers, _) = try? MIMEReader.readHeaders(part.decodedBody[...])
        else { return MIMEHeaders() }
        return headers
    }

    // MARK: - Delivery status (RFC 3464, RFC 6533)

    private static func readDeliveryStatus(of report: MIMEEntity, into result: inout BounceReport) throws {
        guard let part = report.parts.first(where: { deliveryStatusTypes.contains($0.contentType.mimeType) }) else {
            throw FacteurError(.invalid, "the multipart/report has no message/delivery-status part")
        }
        var groups = try MIMEReader.readFieldGroups(part.decodedBody[...])
        // The per-message group comes first; a sloppy MTA may leave it out.
        let recipientKeys = ["final-recipient", "action", "status"]
        if let first = groups.first, !recipientKeys.contains(where: { first.first($0) != nil }) {
            result.originalEnvelopeID = first.first("original-envelope-id").flatMap(nonEmpty)
            result.originalMailFrom = first.first("x-postfix-sender").map(address).flatMap(nonEmpty)
            groups.removeFirst()
        }
        guard !groups.isEmpty else {
            throw FacteurError(.invalid, "the delivery-status part has no per-recipient group (no Final-Recipient, Action, Status)")
        }
        result.recipients = try groups.enumerated().map { try recipient($1, number: $0 + 1) }
    }

    private static func recipient(_ group: MIMEHeaders, number: Int) throws -> BounceReport.Recipient {
        func required(_ key: String, _ name: String) throws -> String {
            guard let value = group.first(key).flatMap(nonEmpty) else {
                throw FacteurError(.invalid, "recipient \(number) in the delivery-status part has no \(name) field")
            }
            return value
        }
        let finalRecipient = try required("final-recipient", "Final-Recipient")
        let action = try required("action", "Action")
        let statusField = try required("status", "Status")
        guard let status = statusCode(statusField) else {
            throw FacteurError(
                .invalid,
                "recipient \(number) has a malformed Status '\(clipped(statusField))': expected class.subject.detail "
                    + "with class 2, 4 or 5, like 5.1.1")
        }
        return BounceReport.Recipient(
            finalRecipient: address(finalRecipient),
            originalRecipient: group.first("original-recipient").flatMap(nonEmpty).map(address),
            action: firstWord(action).lowercased(),
            status: status,
            diagnosticCode: group.first("diagnostic-code").flatMap(nonEmpty),
            remoteMTA: group.first("remote-mta").flatMap(nonEmpty).map(withoutType))
    }

    /// The status code from a field like `5.1.1 (user unknown)`, when it has RFC 3463's shape.
    static func statusCode(_ field: String) -> String? {
        let code = firstWord(field)
        let pieces = code.split(separator: ".", omittingEmptySubsequences: false)
        guard pieces.count == 3, ["2", "4", "5"].contains(pieces[0]),
            pieces.dropFirst().allSatisfy({ (1...3).contains($0.count) && $0.allSatisfy { $0.isASCII && $0.isNumber } })
        else { return nil }
        return code
    }

    // MARK: - Feedback (RFC 5965)

    private static func readFeedback(of report: MIMEEntity, into result: inout BounceReport) throws {
        guard let part = report.parts.first(where: { feedbackTypes.contains($0.contentType.mimeType) }) else {
            throw FacteurError(.invalid, "the multipart/report has no message/feedback-report part")
        }
        let fields = MIMEHeaders(fields: try MIMEReader.readFieldGroups(part.decodedBody[...]).flatMap(\.fields))
        guard let feedbackType = fields.first("feedback-type").flatMap(nonEmpty) else {
            throw FacteurError(.invalid, "the feedback-report part has no Feedback-Type field")
        }
        result.feedbackType = firstWord(feedbackType).lowercased()
        result.originalMailFrom = fields.first("original-mail-from").flatMap(nonEmpty).map(address)
        result.recipients = fields.all("original-rcpt-to").compactMap(nonEmpty).map {
            BounceReport.Recipient(finalRecipient: address($0), action: "complained", status: "")
        }
    }

    // MARK: - Addresses and small values

    /// The addresses in the report's own To, Delivered-To and X-Original-To fields.
    static func reportRecipients(of headers: MIMEHeaders) -> [String] {
        var seen: Set<String> = []
        var result: [String] = []
        for value in headers.all("to") + headers.all("delivered-to") + headers.all("x-original-to") {
            for found in addressList(value) where seen.insert(found.lowercased()).inserted {
                result.append(found)
            }
        }
        return result
    }

    /// The addr-specs of an address list (`"Name, Jr." <a@b>, c@d, group: e@f;`), display names and comments dropped.
    static func addressList(_ value: String) -> [String] {
        var result: [String] = []
        var plain = ""
        var angle: String?
        var quoted = false
        var commentDepth = 0
        var escaped = false
        func endElement() {
            let candidate = (angle ?? plain).trimmingCharacters(in: .whitespaces)
            if candidate.contains("@") {
                result.append(lowercasingDomain(candidate))
            }
            plain = ""
            angle = nil
        }
        for character in value {
            if escaped {
                escaped = false
            } else if character == "\\" && (quoted || commentDepth > 0) {
                escaped = true
            } else if quoted {
                quoted = character != "\""
            } else if commentDepth > 0 {
                commentDepth += character == "(" ? 1 : character == ")" ? -1 : 0
            } else if character == "\"" {
                quoted = true
            } else if character == "(" {
                commentDepth = 1
            } else if character == "<" {
                angle = ""
            } else if character == ">" {
                continue
            } else if character == "," || character == ";" {
                endElement()
            } else if character == ":" && angle == nil {
                plain = ""  // a group's display name
            } else if angle != nil {
                angle?.append(character)
            } else {
                plain.append(character)
            }
        }
        endElement()
        return result
    }

    /// The address of a typed field (`rfc822; <a@B.com>` gives `a@b.com`); `utf-8` addresses have `\x{HEX}` decoded.
    static func address(_ field: String) -> String {
        var type = "rfc822"
        var value = field
        if let semicolon = field.firstIndex(of: ";") {
            let prefix = field[..<semicolon].trimmingCharacters(in: .whitespaces)
            if !prefix.isEmpty, prefix.allSatisfy({ $0.isLetter || $0.isNumber || $0 == "-" }) {
                type = prefix.lowercased()
                value = String(field[field.index(after: semicolon)...])
            }
        }
        var address = value.trimmingCharacters(in: .whitespaces)
        if address.hasPrefix("<"), address.hasSuffix(">"), address.count >= 2 {
            address = String(address.dropFirst().dropLast())
        }
        if type == "utf-8" {
            address = decodingEmbeddedUnicode(address)
        }
        return lowercasingDomain(address)
    }

    private static func lowercasingDomain(_ address: String) -> String {
        guard let at = address.lastIndex(of: "@") else { return address }
        return address[...at] + address[address.index(after: at)...].lowercased()
    }

    /// Decodes RFC 6533's `\x{HEXPOINT}`; anything malformed is left as it is.
    private static func decodingEmbeddedUnicode(_ text: String) -> String {
        guard text.contains("\\x{") else { return text }
        var result = ""
        var rest = Substring(text)
        while let start = rest.range(of: "\\x{") {
            result += rest[..<start.lowerBound]
            let afterOpen = rest[start.upperBound...]
            if let close = afterOpen.firstIndex(of: "}"), let point = UInt32(afterOpen[..<close], radix: 16),
                let scalar = Unicode.Scalar(point)
            {
                result.unicodeScalars.append(scalar)
                rest = afterOpen[afterOpen.index(after: close)...]
            } else {
                result += rest[start]
                rest = afterOpen
            }
        }
        return result + rest
    }

    /// `dns; mx.example.com` gives `mx.example.com`.
    private static func withoutType(_ field: String) -> String {
        guard let semicolon = field.firstIndex(of: ";") else { return field }
        return field[field.index(after: semicolon)...].trimmingCharacters(in: .whitespaces)
    }

    static func withoutAngleBrackets(_ value: String) -> String? {
        var id = value.trimmingCharacters(in: .whitespaces)
        if let open = id.firstIndex(of: "<"), let close = id[open...].firstIndex(of: ">") {
            id = String(id[id.index(after: open)..<close])
        }
        return nonEmpty(id.trimmingCharacters(in: .whitespaces))
    }

    /// The first word once comments are removed: `5.1.1 (user unknown)` gives `5.1.1`.
    private static func firstWord(_ value: String) -> String {
        var depth = 0
        var word = ""
        for character in value {
            if character == "(" {
                depth += 1
            } else if character == ")" {
                depth = max(0, depth - 1)
            } else if depth == 0 {
                if character.isWhitespace || character == ";" {
                    if !word.isEmpty { break }
                } else {
                    word.append(character)
                }
            }
        }
        return word
    }

    private static func nonEmpty(_ value: String) -> String? {
        value.isEmpty ? nil : value
    }

    /// Long input is cut in error messages so that they stay readable.
    private static func clipped(_ value: String) -> String {
        value.count > 60 ? value.prefix(60) + "…" : value
    }
}
