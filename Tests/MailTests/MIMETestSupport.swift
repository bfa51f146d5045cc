import Foundation
import Testing

@testable import Mail

/// Small independent decoders and helpers for the MIME tests (deliberately simple: they
/// check the writer, so they share none of its code).
enum MIMETestSupport {
    static let crlf: [UInt8] = [0x0D, 0x0A]

    /// Splits at CRLF; the bytes after the last CRLF (normally none) form the last line.
    static func lines(_ bytes: some Collection<UInt8>) -> [[UInt8]] {
        var result: [[UInt8]] = []
        var current: [UInt8] = []
        var iterator = bytes.makeIterator()
        var pendingCR = false
        while let b = iterator.next() {
            if pendingCR {
                pendingCR = false
                if b == 0x0A {
                    result.append(current)
                    current = []
                    continue
                }
                current.append(0x0D)
            }
            if b == 0x0D { pendingCR = true } else { current.append(b) }
        }
        if pendingCR { current.append(0x0D) }
        result.append(current)
        return result
    }

    /// Whether every CR is followed by LF and every LF preceded by CR, and the data ends in CRLF.
    static func isStrictCRLF(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 2, bytes.suffix(2).elementsEqual(crlf) else { return false }
        for (i, b) in bytes.enumerated() {
            if b == 0x0D && (i + 1 == bytes.count || bytes[i + 1] != 0x0A) { return false }
            if b == 0x0A && (i == 0 || bytes[i - 1] != 0x0D) { return false }
        }
        return true
    }

    /// The header block (before the first empty line) and the body.
    static func split(_ message: [UInt8]) -> (header: [UInt8], body: [UInt8]) {
        for i in 0..<(message.count - 3)
        where message[i] == 0x0D && message[i + 1] == 0x0A && message[i + 2] == 0x0D && message[i + 3] == 0x0A {
            return (Array(message[..<(i + 2)]), Array(message[(i + 4)...]))
        }
        return (message, [])
    }

    /// The raw (still folded) value of the first field called `name`, without the
    /// separating space after the colon.
    static func rawField(_ name: String, in message: [UInt8]) -> String? {
        let header = String(decoding: split(message).header, as: UTF8.self)
        var fields: [(String, String)] = []
        for line in header.components(separatedBy: "\r\n") where !line.isEmpty {
            if line.first == " " || line.first == "\t" {
                fields[fields.count - 1].1 += "\r\n" + line
            } else if let colon = line.firstIndex(of: ":") {
                var value = String(line[line.index(after: colon)...])
                if value.first == " " { value.removeFirst() }
                fields.append((String(line[..<colon]), value))
            }
        }
        return fields.first { $0.0.lowercased() == name.lowercased() }?.1
    }

    /// The encoded-words of a header value, as written.
    static func encodedWords(_ value: String) -> [String] {
        value.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\n" })
            .map(String.init)
            .filter { $0.hasPrefix("=?") && $0.hasSuffix("?=") }
    }

    /// Decodes one `=?utf-8?q|b?…?=` word into its bytes, or nil when it is malformed.
    static func decodeEncodedWord(_ word: String) -> [UInt8]? {
        let parts = word.split(separator: "?", omittingEmptySubsequences: false)
        guard parts.count == 5, parts[0] == "=", parts[4] == "=", parts[1].lowercased() == "utf-8" else { return nil }
        let text = String(parts[3])
        switch parts[2].lowercased() {
        case "b": return Data(base64Encoded: text).map { Array($0) }
        case "q":
            var out: [UInt8] = []
            var bytes = Array(text.utf8)[...]
            while let b = bytes.popFirst() {
                if b == UInt8(ascii: "_") {
                    out.append(0x20)
                } else if b == UInt8(ascii: "=") {
                    guard bytes.count >= 2, let v = UInt8(String(decoding: bytes.prefix(2), as: UTF8.self), radix: 16)
                    else { return nil }
                    out.append(v)
                    bytes = bytes.dropFirst(2)
                } else {
                    out.append(b)
                }
            }
            return out
        default: return nil
        }
    }

    /// Unfolds and decodes an unstructured value the way RFC 2047 readers do:
    /// whitespace between two adjacent encoded-words is dropped.
    static func decodeUnstructured(_ value: String) -> String {
        let unfolded = value.replacingOccurrences(of: "\r\n", with: "")
        var result = ""
        var pendingSpace = ""
        var previousWasEncoded = false
        var index = unfolded.startIndex
        while index < unfolded.endIndex {
            let spaceEnd = unfolded[index...].firstIndex { $0 != " " && $0 != "\t" } ?? unfolded.endIndex
            pendingSpace = String(unfolded[index..<spaceEnd])
            index = spaceEnd
            guard index < unfolded.endIndex else {
                result += pendingSpace
                break
            }
            let wordEnd = unfolded[index...].firstIndex { $0 == " " || $0 == "\t" } ?? unfolded.endIndex
            let word = String(unfolded[index..<wordEnd])
            index = wordEnd
            if let bytes = decodeEncodedWord(word), let text = String(validating: bytes, as: UTF8.self) {
                if !previousWasEncoded { result += pendingSpace }
                result += text
                previousWasEncoded = true
            } else {
                result += pendingSpace + word
                previousWasEncoded = false
            }
        }
        return result
    }

    /// A strict quoted-printable decoder (RFC 2045 §6.7): soft breaks removed, `=XX`
    /// decoded, hard breaks kept as CRLF. Returns nil on a malformed escape.
    static func decodeQuotedPrintable(_ encoded: [UInt8]) -> [UInt8]? {
        var out: [UInt8] = []
        let lines = lines(encoded)
        for (index, line) in lines.enumerated() {
            var i = 0
            var soft = false
            while i < line.count {
                let b = line[i]
                if b == UInt8(ascii: "=") {
                    if i + 1 == line.count {
                        soft = true
                        break
                    }
                    guard i + 2 < line.count,
                        let v = UInt8(String(decoding: line[(i + 1)...(i + 2)], as: UTF8.self), radix: 16)
                    else { return nil }
                    out.append(v)
                    i += 3
                } else {
                    out.append(b)
                    i += 1
                }
            }
            if !soft && index < lines.count - 1 { out.append(contentsOf: crlf) }
        }
        return out
    }

    /// `text` with every line break (CRLF, LF or CR) as CRLF: the canonical form.
    static func canonical(_ text: String) -> String {
        text.replacingOccurrences(of: "\r\n", with: "\n").replacingOccurrences(of: "\r", with: "\n")
            .replacingOccurrences(of: "\n", with: "\r\n")
    }

    static func mailbox(_ address: String, _ name: String? = nil) -> Mailbox {
        try! Mailbox(address, name: name)
    }

    /// A message with sensible defaults for the fields a test does not care about.
    static func message(
        from: Mailbox = mailbox("news@example.com", "Example News"), replyTo: Mailbox? = nil,
        to: [Mailbox] = [mailbox("ann@example.com", "Ann")], subject: String = "Hello",
        date: Date = Date(timeIntervalSince1970: 1_795_388_339), messageID: String? = "test.1@example.com",
        headers: [(name: String, value: String)] = [], text: String? = "Hello\n", html: String? = nil
    ) throws -> Message {
        try Message(
            from: from, replyTo: replyTo, to: to, subject: subject, date: date, messageID: messageID,
            headers: headers, textBody: text, htmlBody: html)
    }

    /// A realistic campaign HTML body: French copy, 20 tracked links, long lines.
    static func frenchHTML(kilobytes: Int = 30) -> String {
        var html = "<!DOCTYPE html>\n<html lang=\"fr\"><head><meta charset=\"utf-8\"><title>Offre d'été</title></head><body>\n"
        var link = 0
        while html.utf8.count < kilobytes * 1000 {
            link = link % 20 + 1
            html +=
                "<p style=\"margin:0 0 16px;font-size:15px;line-height:22px\">Bonjour Élodie, découvrez nos nouveautés "
                + "de l'été : -30 % sur toute la collection « Été 2026 » jusqu'à dimanche, livraison offerte dès 49 € ☀️.</p>\n"
                + "<a href=\"https://t.example.com/t/c/eyJtIjo0Mn0.sig/\(link)?utm_source=nl&amp;utm_campaign=ete\">Voir l'offre n°\(link)</a>\n"
        }
        return html + "</body></html>\n"
    }
}
