import Mustache

/// The plain-text part of a template without one, as a Mustache template derived once from the
/// HTML template — instead of converting every message's 30 KB of HTML (the costliest step of
/// rendering a message).
///
/// The layout's `{{$content}}` block is filled with the campaign's HTML, partials are inlined,
/// and the result is converted to text with its Mustache tags left in place; each message then
/// renders that text template and only has its lines tidied. Values go into the text unescaped,
/// which is what converting the escaped HTML gives back.
///
/// The derivation is used only when it is exact for the template: it must give the same text as
/// the per-message conversion for a context with no values and for one with every variable set.
/// Templates using unescaped HTML values (`{{{…}}}`, `{{&…}}`), changed delimiters or nested
/// layouts always take the per-message path. What can still differ is whitespace inside a value
/// (the HTML path folds a value's line breaks into spaces; the derived text keeps them).
enum DerivedText {
    static func template(html: String, htmlTemplate: MustacheTemplate, layout: String?, layouts: EmailLayouts) -> MustacheTemplate? {
        guard let source = flatten(html: html, layout: layout, sources: layouts.sources),
            let textTemplate = try? MustacheTemplate(string: "{{% CONTENT_TYPE: TEXT}}" + HTMLToText.convert(source))
        else { return nil }
        for context in sampleContexts(source) {
            let derived = finish(textTemplate.render(context, library: layouts.library))
            let converted = HTMLToText.convert(htmlTemplate.render(context, library: layouts.library))
            guard derived == converted else { return nil }
        }
        return textTemplate
    }

    /// A rendered derived text, tidied as the HTML conversion would: tabs and runs of spaces (around
    /// an empty value, say) become one space, then lines are trimmed and blank runs folded.
    static func finish(_ rendered: String) -> String {
        var rendered = rendered
        return rendered.withUTF8 { source in
            var out: [UInt8] = []
            out.reserveCapacity(source.count)
            var index = 0
            while index < source.count {
                // Copy up to the next tab or run of two spaces at once.
                var end = index
                while end < source.count {
                    let byte = source[end]
                    if byte == 0x09 || (byte == 0x20 && end + 1 < source.count && (source[end + 1] == 0x20 || source[end + 1] == 0x09)) {
                        break
                    }
                    end += 1
                }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: source[index..<end]))
                guard end < source.count else { break }
                if out.last != 0x20 { out.append(0x20) }
                while end < source.count && (source[end] == 0x20 || source[end] == 0x09) { end += 1 }
                index = end
            }
            return HTMLToText.normalizeLines(out)
        }
    }

    /// The HTML template as one source: layout filled, partials inlined. Nil when it uses what the
    /// derivation cannot follow.
    static func flatten(html: String, layout: String?, sources: [String: String]) -> String? {
        var flat = html
        if let layout {
            guard let outer = sources[layout], let filled = fill(outer, content: html) else { return nil }
            flat = filled
        }
        guard let inlined = inlinePartials(flat, sources: sources, depth: 0) else { return nil }
        for unsupported in ["{{{", "{{&", "{{=", "{{<", "{{$", "{{%"] where inlined.contains(unsupported) { return nil }
        return inlined
    }

    /// Replaces the layout's `{{$content}}…{{/content}}` with `content`, and every other block with
    /// its default text.
    static func fill(_ layout: String, content: String) -> String? {
        // One pass over the layout: what is inserted is never scanned again (content holding block
        // tags of its own must not be expanded into itself).
        var output = ""
        var cursor = layout.startIndex
        var filledContent = false
        while let open = layout.range(of: "{{$", range: cursor..<layout.endIndex) {
            guard let openEnd = layout.range(of: "}}", range: open.upperBound..<layout.endIndex) else { return nil }
            let name = layout[open.upperBound..<openEnd.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let close = layout.range(of: "{{/\(name)}}", range: openEnd.upperBound..<layout.endIndex) else { return nil }
            output += layout[cursor..<open.lowerBound]
            if name == "content" {
                output += content
                filledContent = true
            } else {
                output += layout[openEnd.upperBound..<close.lowerBound]
            }
            cursor = close.upperBound
        }
        output += layout[cursor...]
        return filledContent ? output : nil
    }

    static func inlinePartials(_ source: String, sources: [String: String], depth: Int) -> String? {
        guard source.contains("{{>") else { return source }
        guard depth < 5 else { return nil }
        var text = source
        while let open = text.range(of: "{{>") {
            guard let close = text.range(of: "}}", range: open.upperBound..<text.endIndex) else { return nil }
            let name = text[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            guard let partial = sources[name], let inlined = inlinePartials(partial, sources: sources, depth: depth + 1) else { return nil }
            text.replaceSubrange(open.lowerBound..<close.upperBound, with: inlined)
        }
        return text
    }

    /// Two contexts: nothing set but the URLs every message has (every section off, every inverted
    /// section on), and every name the template uses set to a plain value (every section on once),
    /// dotted names as nested objects.
    static func sampleContexts(_ source: String) -> [[String: Any]] {
        // What every message's context has (the composer sets them), so they are never empty.
        let urls: [String: Any] = [
            "unsubscribe_url": "https://example.com/u/t", "preferences_url": "https://example.com/p/t",
            "view_in_browser_url": "https://example.com/v/t", "footer": EmailLayouts.englishFooter,
        ]
        guard let tags = try? MustacheTags.scan(source) else { return [urls] }
        var filled = urls
        for tag in tags where [.variable, .section, .inverted].contains(tag.kind) {
            set(&filled, path: tag.name.split(separator: ".").map(String.init), value: "Sample value")
        }
        return [urls, filled]
    }

    private static func set(_ object: inout [String: Any], path: [String], value: String) {
        guard let key = path.first, key != "." else { return }
        if path.count == 1 {
            if object[key] == nil { object[key] = value }
            return
        }
        var child = object[key] as? [String: Any] ?? [:]
        set(&child, path: Array(path.dropFirst()), value: value)
        object[key] = child
    }
}
