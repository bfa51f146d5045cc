import Foundation

extension SegmentText.Parser {
    /// Words (letters, digits, `_ . : -`), JSON strings, numbers, durations, symbols.
    static func lex(_ text: String) throws -> [(token: SegmentText.Token, at: SegmentText.Position)] {
        let scalars = Array(text.unicodeScalars)
        var tokens: [(token: SegmentText.Token, at: SegmentText.Position)] = []
        var index = 0
        var line = 1
        var lineStart = 0
        func fail(_ message: String, at start: Int) -> FacteurError {
            FacteurError(.invalid, "line \(line), column \(start - lineStart + 1): \(message)", field: "text")
        }
        func isWord(_ scalar: Unicode.Scalar) -> Bool {
            scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "_.:".unicodeScalars.contains(scalar)
        }
        while index < scalars.count {
            let scalar = scalars[index]
            let at = SegmentText.Position(line: line, column: index - lineStart + 1)
            if scalar == "\n" {
                index += 1
                line += 1
                lineStart = index
                continue
            }
            if scalar == " " || scalar == "\t" || scalar == "\r" {
                index += 1
                continue
            }
            if scalar == "\"" {
                // A JSON string: find its end, then let the JSON reader unescape it.
                var end = index + 1
                while end < scalars.count, scalars[end] != "\"" {
                    if scalars[end] == "\\" { end += 1 }
                    if end < scalars.count, scalars[end] == "\n" { break }
                    end += 1
                }
                guard end < scalars.count, scalars[end] == "\"" else { throw fail("this text has no closing quote", at: index) }
                var literal = String.UnicodeScalarView()
                literal.append(contentsOf: scalars[index...end])
                guard case .string(let value)? = try? JSONValue.parse(Data(String(literal).utf8)) else {
                    throw fail("this text has a bad escape", at: index)
                }
                tokens.append((.string(value), at))
                index = end + 1
                continue
            }
            let startsNumber =
                ("0"..."9").contains(scalar)
                || ((scalar == "-" || scalar == "+") && index + 1 < scalars.count && ("0"..."9").contains(scalars[index + 1]))
            if startsNumber {
                var end = index + 1
                while end < scalars.count,
                    ("0"..."9").contains(scalars[end]) || scalars[end] == "." || scalars[end] == "e" || scalars[end] == "E"
                        || ((scalars[end] == "+" || scalars[end] == "-") && (scalars[end - 1] == "e" || scalars[end - 1] == "E"))
                {
                    end += 1
                }
                var literal = String.UnicodeScalarView()
                literal.append(contentsOf: scalars[index..<end])
                let text = String(literal)
                if end < scalars.count, "hdwy".unicodeScalars.contains(scalars[end]),
                    SegmentRule.Window.seconds(text.trimmingCharacters(in: ["-", "+"]) + String(scalars[end])) != nil
                {
                    tokens.append((.duration(text + String(scalars[end])), at))
                    index = end + 1
                    continue
                }
                guard let number = Double(text), number.isFinite, scalar != "+" else {
                    throw fail("'\(text)' is not a number", at: index)
                }
                tokens.append((.number(number), at))
                index = end
                continue
            }
            if isWord(scalar) {
                var end = index + 1
                while end < scalars.count, isWord(scalars[end]) || scalars[end] == "-" { end += 1 }
                var literal = String.UnicodeScalarView()
                literal.append(contentsOf: scalars[index..<end])
                tokens.append((.word(String(literal)), at))
                index = end
                continue
            }
            let pair = index + 1 < scalars.count ? String(scalar) + String(scalars[index + 1]) : ""
            if [">=", "<=", "!="].contains(pair) {
                tokens.append((.symbol(pair), at))
                index += 2
                continue
            }
            if "()[],=<>".unicodeScalars.contains(scalar) {
                tokens.append((.symbol(String(scalar)), at))
                index += 1
                continue
            }
            throw fail("unexpected character '\(scalar)'", at: index)
        }
        tokens.append((.end, SegmentText.Position(line: line, column: scalars.count - lineStart + 1)))
        return tokens
    }
}
