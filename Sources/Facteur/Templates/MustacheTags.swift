/// A lightweight scan of Mustache tags, for validation at save time.
///
/// swift-mustache parses and renders but does not expose its syntax tree; this scanner finds every
/// `{{…}}` tag with its line and column so a template can be checked against the variables a
/// message will really have, before any campaign is sent.
struct MustacheTags {
    enum Kind: Equatable {
        case variable, unescaped, section, inverted, close, comment, partial, parent, block, setDelimiter, pragma
    }

    struct Tag: Equatable {
        var kind: Kind
        var name: String
        var line: Int
        var column: Int
    }

    /// A tag that cannot be read (unterminated, empty), with its position.
    struct ScanError: Error, Equatable {
        var message: String
        var line: Int
        var column: Int
    }

    static func scan(_ source: String) throws(ScanError) -> [Tag] {
        var tags: [Tag] = []
        let scalars = Array(source.unicodeScalars)
        var index = 0
        var line = 1
        var column = 1
        func advance(_ count: Int) {
            for _ in 0..<count where index < scalars.count {
                if scalars[index] == "\n" {
                    line += 1
                    column = 1
                } else {
                    column += 1
                }
                index += 1
            }
        }
        func starts(with text: String, at position: Int) -> Bool {
            var offset = position
            for scalar in text.unicodeScalars {
                guard offset < scalars.count, scalars[offset] == scalar else { return false }
                offset += 1
            }
            return true
        }
        while index < scalars.count {
            guard starts(with: "{{", at: index) else {
                advance(1)
                continue
            }
            let (tagLine, tagColumn) = (line, column)
            let triple = starts(with: "{{{", at: index)
            let close = triple ? "}}}" : "}}"
            var end = index + (triple ? 3 : 2)
            while end < scalars.count, !starts(with: close, at: end) { end += 1 }
            guard end < scalars.count else {
                throw ScanError(message: "unclosed tag: '\(close)' expected", line: tagLine, column: tagColumn)
            }
            var body = String(String.UnicodeScalarView(scalars[(index + (triple ? 3 : 2))..<end]))
            advance(end + close.unicodeScalars.count - index)
            var kind = Kind.variable
            if triple {
                kind = .unescaped
            } else if let sigil = body.first {
                let kinds: [Character: Kind] = [
                    "#": .section, "^": .inverted, "/": .close, "!": .comment, ">": .partial, "<": .parent, "$": .block,
                    "&": .unescaped, "=": .setDelimiter, "%": .pragma,
                ]
                if let mapped = kinds[sigil] {
                    kind = mapped
                    body.removeFirst()
                }
            }
            if kind == .setDelimiter {
                throw ScanError(
                    message: "changing delimiters ({{=…=}}) is not supported in email templates", line: tagLine, column: tagColumn)
            }
            let name = body.trimmingCharacters(in: .whitespaces)
            if name.isEmpty, kind != .comment {
                throw ScanError(message: "empty tag", line: tagLine, column: tagColumn)
            }
            tags.append(Tag(kind: kind, name: name, line: tagLine, column: tagColumn))
        }
        return tags
    }
}
