/// Finds the links of a campaign's HTML and points them at signed click-tracking URLs.
///
/// Only links written literally in the template are tracked (an `href` built from a variable differs
/// per subscriber and has no `campaign_links` row). A click URL names the link's row, never a URL from
/// the request, so the redirect cannot be abused as an open redirect.
public enum LinkRewriter {
    /// The distinct `http(s)` hrefs of `<a>` tags that hold no Mustache tag, in order of appearance.
    public static func trackableLinks(in html: String) -> [String] {
        var seen: Set<String> = []
        var links: [String] = []
        for href in hrefs(in: html).map(\.value) where isTrackable(href) && seen.insert(href).inserted {
            links.append(href)
        }
        return links
    }

    /// Replaces each tracked href with `makeURL(linkID)`; other links are left as they are.
    public static func rewrite(_ html: String, links: [String: Int64], makeURL: (Int64) -> String) -> String {
        var output = ""
        output.reserveCapacity(html.utf8.count + 64 * links.count)
        var cursor = html.startIndex
        for href in hrefs(in: html) {
            let decoded = HTMLToText.decodeEntities(href.value)
            guard let id = links[href.value] ?? links[decoded] else { continue }
            output += html[cursor..<href.range.lowerBound]
            output += makeURL(id)
            cursor = href.range.upperBound
        }
        output += html[cursor...]
        return output
    }

    /// Adds the open pixel just before `</body>`, or at the end.
    public static func addOpenPixel(_ html: String, url: String) -> String {
        let pixel = #"<img src="\#(url)" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">"#
        guard let body = html.range(of: "</body>", options: [.caseInsensitive, .backwards]) else { return html + pixel }
        // Appending to one String: `a + b + c` over substrings costs ~50× more here.
        var output = String(html[..<body.lowerBound])
        output += pixel
        output += html[body.lowerBound...]
        return output
    }

    static func isTrackable(_ href: String) -> Bool {
        let lower = href.lowercased()
        return (lower.hasPrefix("http://") || lower.hasPrefix("https://")) && !href.contains("{{") && href.utf8.count <= 2048
    }

    /// The value of every `href` attribute inside an `<a …>` tag, with its range in `html`.
    static func hrefs(in html: String) -> [(value: String, range: Range<String.Index>)] {
        var result: [(String, Range<String.Index>)] = []
        var search = html.startIndex
        while let open = html.range(of: "<a", options: .caseInsensitive, range: search..<html.endIndex) {
            guard let close = html[open.upperBound...].firstIndex(of: ">") else { break }
            search = html.index(after: close)
            // isWhitespace: "\r\n" is one Character in Swift, equal to neither "\r" nor "\n".
            guard let next = html[open.upperBound...].first, next.isWhitespace else { continue }
            let tag = html[open.upperBound..<close]
            guard let attribute = tag.range(of: "href", options: .caseInsensitive) else { continue }
            var index = attribute.upperBound
            while index < close, html[index] == " " { index = html.index(after: index) }
            guard index < close, html[index] == "=" else { continue }
            index = html.index(after: index)
            while index < close, html[index] == " " { index = html.index(after: index) }
            guard index < close else { continue }
            let quote = html[index]
            if quote == "\"" || quote == "'" {
                let start = html.index(after: index)
                guard let end = html[start..<close].firstIndex(of: quote) else { continue }
                result.append((String(html[start..<end]), start..<end))
            } else {
                let end = html[index..<close].firstIndex(where: \.isWhitespace) ?? close
                result.append((String(html[index..<end]), index..<end))
            }
        }
        return result
    }
}
