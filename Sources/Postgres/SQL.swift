/// A SQL statement with its parameters, built so that values can only ever travel as binds.
///
/// Every value interpolated into a `SQL` literal becomes a `$n` parameter:
/// `"SELECT * FROM subscribers WHERE email = \(email)"` sends `email` separately from the text.
/// Raw text goes in only through the explicitly named `init(unsafeSQL:)` and
/// `appendInterpolation(unsafeRaw:)`, so injection is impossible by default and visible when deliberate.
public struct SQL: Sendable, Hashable, ExpressibleByStringInterpolation, CustomStringConvertible {
    /// The statement text, with `$1…$n` placeholders.
    public private(set) var text: String
    /// The parameters, in placeholder order.
    public private(set) var binds: [PostgresBind]

    /// Statement text used verbatim; the caller vouches that it holds no untrusted input.
    public init(unsafeSQL text: String, binds: [PostgresBind] = []) {
        self.text = text
        self.binds = binds
    }

    public init(stringLiteral value: String) {
        self.init(unsafeSQL: value)
    }

    public init(stringInterpolation: StringInterpolation) {
        self.init(unsafeSQL: stringInterpolation.text, binds: stringInterpolation.binds)
    }

    public var description: String { text }

    /// Appends another fragment, renumbering its placeholders after this one's.
    public mutating func append(_ other: SQL) {
        text += SQL.renumber(other.text, offset: binds.count)
        binds += other.binds
    }

    /// Joins fragments with a separator (e.g. `" AND "`), renumbering placeholders.
    public static func joined(_ parts: [SQL], separator: String) -> SQL {
        var result = SQL(unsafeSQL: "")
        for (index, part) in parts.enumerated() {
            if index > 0 { result.text += separator }
            result.append(part)
        }
        return result
    }

    /// Builds the interpolated statement.
    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        var text = ""
        var binds: [PostgresBind] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            text.reserveCapacity(literalCapacity + interpolationCount * 3)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) {
            text += literal
        }

        /// A value: becomes the next `$n` parameter.
        public mutating func appendInterpolation<Value: PostgresEncodable>(_ value: Value) {
            binds.append(PostgresBind(value))
            text += "$\(binds.count)"
        }

        /// A nested fragment: its text is inlined and its binds renumbered.
        public mutating func appendInterpolation(_ fragment: SQL) {
            text += SQL.renumber(fragment.text, offset: binds.count)
            binds += fragment.binds
        }

        /// Raw text, e.g. an identifier taken from a registry. Never pass user input here.
        public mutating func appendInterpolation(unsafeRaw raw: String) {
            text += raw
        }

        /// A quoted identifier (`"name"`), safe for any string.
        public mutating func appendInterpolation(identifier: String) {
            text += SQL.quoteIdentifier(identifier)
        }
    }

    /// Double-quotes an identifier, doubling embedded quotes.
    public static func quoteIdentifier(_ name: String) -> String {
        "\"" + name.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// Shifts every `$n` outside quotes and comments by `offset`.
    static func renumber(_ text: String, offset: Int) -> String {
        guard offset > 0, text.contains("$") else { return text }
        var out = ""
        out.reserveCapacity(text.utf8.count + 8)
        var chars = Array(text.unicodeScalars)[...]
        var inQuote: Unicode.Scalar? = nil
        while let c = chars.popFirst() {
            if let q = inQuote {
                out.unicodeScalars.append(c)
                if c == q { inQuote = nil }
                continue
            }
            if c == "'" || c == "\"" {
                inQuote = c
                out.unicodeScalars.append(c)
                continue
            }
            if c == "$", let first = chars.first, ("0"..."9").contains(first) {
                var digits = ""
                while let d = chars.first, ("0"..."9").contains(d) {
                    digits.unicodeScalars.append(d)
                    chars.removeFirst()
                }
                out += "$\(Int(digits)! + offset)"
                continue
            }
            out.unicodeScalars.append(c)
        }
        return out
    }
}
