import Facteur
import Foundation

/// An `application/x-www-form-urlencoded` body: what an HTML form sends. Repeated names
/// (checkboxes) keep every value, in order.
struct FormBody: Sendable {
    private(set) var fields: [(name: String, value: String)] = []

    /// Throws 400 for bytes that are not form encoding (bad percent escapes, invalid UTF-8).
    init(_ bytes: [UInt8]) throws {
        guard !bytes.isEmpty else { return }
        for pair in bytes.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let parts = pair.split(separator: UInt8(ascii: "="), maxSplits: 1, omittingEmptySubsequences: false)
            let name = try Self.decode(parts[0])
            let value = parts.count > 1 ? try Self.decode(parts[1]) : ""
            fields.append((name, value))
        }
    }

    func values(_ name: String) -> [String] { fields.filter { $0.name == name }.map(\.value) }

    func value(_ name: String) -> String? { fields.first { $0.name == name }?.value }

    /// `+` is a space; `%XX` a byte; the result must be UTF-8 without control characters
    /// other than tab, CR and LF.
    private static func decode(_ bytes: ArraySlice<UInt8>) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var index = bytes.startIndex
        while index < bytes.endIndex {
            let byte = bytes[index]
            if byte == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.endIndex, let high = ASCIIBytes.hexValue(bytes[index + 1]),
                    let low = ASCIIBytes.hexValue(bytes[index + 2])
                else {
                    throw FacteurError(.badRequest, "the form data has a broken % escape")
                }
                out.append(high << 4 | low)
                index += 2
            } else {
                out.append(byte)
            }
            index += 1
        }
        guard let text = String(validating: out, as: UTF8.self) else {
            throw FacteurError(.badRequest, "the form data is not valid UTF-8")
        }
        guard !text.unicodeScalars.contains(where: { ($0.value < 0x20 && !"\t\r\n".unicodeScalars.contains($0)) || $0.value == 0x7F })
        else {
            throw FacteurError(.badRequest, "the form data contains a control character")
        }
        return text
    }
}
