/// Turns an email's HTML into its plain-text alternative: block elements become line breaks,
/// links become `text (url)`, `<style>`/`<script>`/`<head>` are dropped, entities decoded.
public enum HTMLToText {
    public static func convert(_ html: String) -> String {
        var output = ""
        output.reserveCapacity(html.utf8.count / 2)
        var scalars = html.unicodeScalars[...]
        var skipping: String?
        var pendingHref: [String?] = []
        var linkTextStart: [String.Index] = []
        while let c = scalars.first {
            if c == "<" {
                guard let close = scalars.firstIndex(of: ">") else { break }
                let tag = String(String.UnicodeScalarView(scalars[scalars.index(after: scalars.startIndex)..<close]))
                scalars = scalars[scalars.index(after: close)...]
                let closing = tag.hasPrefix("/")
                let name = tag.drop(while: { $0 == "/" }).prefix(while: { $0.isLetter || $0.isNumber }).lowercased()
                if let skipped = skipping {
                    if closing, name == skipped { skipping = nil }
                    continue
                }
                switch name {
                case "style", "script", "head", "title":
                    if !closing && !tag.hasSuffix("/") { skipping = name }
                case "br":
                    output += "\n"
                case "p", "div", "h1", "h2", "h3", "h4", "h5", "h6", "tr", "table", "ul", "ol", "blockquote", "section", "article",
                    "header", "footer":
                    if !output.hasSuffix("\n\n") && !output.isEmpty { output += output.hasSuffix("\n") ? "\n" : "\n\n" }
                case "li":
                    if !closing {
                        if !output.hasSuffix("\n") && !output.isEmpty { output += "\n" }
                        output += "- "
                    }
                case "td", "th":
                    if closing { output += " " }
                case "hr":
                    output += "\n----\n"
                case "img":
                    if let alt = attribute("alt", in: tag), !alt.isEmpty { output += alt }
                case "a":
                    if closing {
                        guard let href = pendingHref.popLast(), let start = linkTextStart.popLast() else { continue }
                        let text = output[start...].trimmingCharacters(in: .whitespaces)
                        if let href, !href.isEmpty, !href.hasPrefix("#"), !href.lowercased().hasPrefix("mailto:") || text.isEmpty,
                            text != href
                        {
                            output += text.isEmpty ? href : " (\(href))"
                        }
                    } else {
                        pendingHref.append(attribute("href", in: tag).map(decodeEntities))
                        linkTextStart.append(output.endIndex)
                    }
                default:
                    break
                }
                continue
            }
            scalars.removeFirst()
            if skipping != nil { continue }
            if c == "\n" || c == "\r" || c == "\t" || c == " " {
                if !output.isEmpty, !output.hasSuffix(" "), !output.hasSuffix("\n") { output += " " }
            } else {
                output.unicodeScalars.append(c)
            }
        }
        let decoded = decodeEntities(output)
        let lines = decoded.split(separator: "\n", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        var result: [String] = []
        for line in lines where !(line.isEmpty && (result.last?.isEmpty ?? true)) { result.append(line) }
        while result.last?.isEmpty == true { result.removeLast() }
        return result.joined(separator: "\n")
    }

    static func attribute(_ name: String, in tag: String) -> String? {
        let lower = tag.lowercased()
        guard let range = lower.range(of: name + "=") else { return nil }
        var rest = tag[range.upperBound...]
        guard let quote = rest.first else { return nil }
        if quote == "\"" || quote == "'" {
            rest = rest.dropFirst()
            return String(rest.prefix(while: { $0 != quote }))
        }
        return String(rest.prefix(while: { !$0.isWhitespace && $0 != ">" }))
    }

    static func decodeEntities(_ text: String) -> String {
        guard text.contains("&") else { return text }
        let named: [String: String] = [
            "amp": "&", "lt": "<", "gt": ">", "quot": "\"", "apos": "'", "nbsp": " ", "eacute": "é", "egrave": "è",
            "agrave": "à", "ccedil": "ç", "ecirc": "ê", "ucirc": "û", "ocirc": "ô", "icirc": "î", "acirc": "â", "mdash": "—", "ndash": "–",
            "hellip": "…", "laquo": "«", "raquo": "»",
            "rsquo": "’", "lsquo": "‘", "copy": "©", "euro": "€",
        ]
        var output = ""
        var rest = text[...]
        while let amp = rest.firstIndex(of: "&") {
            output += rest[..<amp]
            let after = rest[rest.index(after: amp)...]
            if let semicolon = after.prefix(10).firstIndex(of: ";") {
                let entity = String(after[..<semicolon])
                var replacement: String?
                if entity.hasPrefix("#x") || entity.hasPrefix("#X") {
                    replacement = UInt32(entity.dropFirst(2), radix: 16).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
                } else if entity.hasPrefix("#") {
                    replacement = UInt32(entity.dropFirst()).flatMap(Unicode.Scalar.init).map { String(Character($0)) }
                } else {
                    replacement = named[entity]
                }
                if let replacement {
                    output += replacement
                    rest = after[after.index(after: semicolon)...]
                    continue
                }
            }
            output += "&"
            rest = after
        }
        return output + rest
    }
}
