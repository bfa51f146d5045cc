import Foundation

/// Finds the links of a campaign's HTML and points them at signed click-tracking URLs.
///
/// Only links written literally in the template are tracked (an `href` built from a variable differs
/// per subscriber and has no `campaign_links` row). A click URL names the link's row, never a URL from
/// the request, so the redirect cannot be abused as an open redirect. It scans UTF-8 bytes (no
/// Foundation string searches, which copy the page to UTF-16 on Linux for every call).
public enum LinkRewriter {
    /// The distinct `http(s)` hrefs of `<a>` tags that hold no Mustache tag, in order of appearance.
    public static func trackableLinks(in html: String) -> [String] {
        var seen: Set<String> = []
        var links: [String] = []
        var html = html
        html.withUTF8 { bytes in
            forEachHref(bytes) { start, end in
                let href = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<end]), as: UTF8.self)
                if isTrackable(href), seen.insert(href).inserted { links.append(href) }
            }
        }
        return links
    }

    /// Replaces each tracked href with `makeURL(linkID)`; other links are left as they are.
    public static func rewrite(_ html: String, links: [String: Int64], makeURL: (Int64) -> String) -> String {
        var html = html
        return html.withUTF8 { src -> String in
            var out: [UInt8] = []
            out.reserveCapacity(src.count + 64 * links.count)
            var cursor = 0
            forEachHref(src) { start, end in
                let value = String(decoding: UnsafeBufferPointer(rebasing: src[start..<end]), as: UTF8.self)
                var id = links[value]
                if id == nil, src[start..<end].contains(0x26) {
                    id = links[String(decoding: HTMLToText.decodeEntities(Array(src[start..<end])), as: UTF8.self)]
                }
                guard let id else { return }
                out.append(contentsOf: UnsafeBufferPointer(rebasing: src[cursor..<start]))
                out.append(contentsOf: makeURL(id).utf8)
                cursor = end
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: src[cursor...]))
            return String(decoding: out, as: UTF8.self)
        }
    }

    /// Adds the open pixel just before `</body>`, or at the end.
    public static func addOpenPixel(_ html: String, url: String) -> String {
        let pixel = #"<img src="\#(url)" width="1" height="1" alt="" style="display:block;width:1px;height:1px;border:0">"#
        let needle: [UInt8] = Array("</body>".utf8)
        var copy = html
        let found: Int? = copy.withUTF8 { bytes in
            // From the end: a '<', then the rest of the tag ASCII-case-insensitively.
            var position = bytes.count - needle.count
            while position >= 0 {
                if bytes[position] == 0x3C {
                    var offset = 1
                    while offset < needle.count && lower(bytes[position + offset]) == needle[offset] { offset += 1 }
                    if offset == needle.count { return position }
                }
                position -= 1
            }
            return nil
        }
        guard let found else { return html + pixel }
        let index = html.utf8.index(html.utf8.startIndex, offsetBy: found)
        // Appending to one String: `a + b + c` over substrings costs ~50× more here.
        var output = String(html[..<index])
        output.reserveCapacity(html.utf8.count + pixel.utf8.count)
        output += pixel
        output += html[index...]
        return output
    }

    static func isTrackable(_ href: String) -> Bool {
        let lower = href.lowercased()
        return (lower.hasPrefix("http://") || lower.hasPrefix("https://")) && !href.contains("{{") && href.utf8.count <= 2048
    }

    /// Foundation's (non-literal) search does not match "<a" when a combining mark follows the "a".
    static func extendsGrapheme(_ s: UnsafeBufferPointer<UInt8>, _ i: Int) -> Bool {
        var iterator = s[i...].makeIterator()
        var decoder = UTF8()
        guard case .scalarValue(let scalar) = decoder.decode(&iterator) else { return false }
        return scalar.properties.isGraphemeExtend || scalar.properties.generalCategory == .spacingMark
    }

    @inline(__always) static func lower(_ b: UInt8) -> UInt8 { b >= 0x41 && b <= 0x5A ? b + 0x20 : b }

    /// Calls `body(start, end)` with the byte range of each `href` value inside an `<a …>` tag.
    static func forEachHref(_ s: UnsafeBufferPointer<UInt8>, _ body: (Int, Int) -> Void) {
        let n = s.count
        var search = 0
        while true {
            // "<a" case-insensitively
            var open = -1
            var p = search
            while p + 1 < n {
                guard let hit = memchr(s.baseAddress! + p, 0x3C, n - p) else { return }
                p = s.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
                if p + 1 >= n { return }
                if s[p] == 0x3C && lower(s[p + 1]) == 0x61 && !(p + 2 < n && s[p + 2] >= 0x80 && extendsGrapheme(s, p + 2)) {
                    open = p
                    break
                }
                p += 1
            }
            if open < 0 { return }
            let afterA = open + 2
            guard afterA < n, let hit = memchr(s.baseAddress! + afterA, 0x3E, n - afterA) else { return }
            let close = s.baseAddress!.distance(to: hit.assumingMemoryBound(to: UInt8.self))
            search = close + 1
            guard afterA < n else { continue }
            let next = s[afterA]
            guard next == 0x20 || next == 0x0A || next == 0x09 || next == 0x0D || next == 0x0C else { continue }
            // first "href", case-insensitively, inside the tag
            var attr = -1
            var q = afterA
            while q + 4 <= close {
                if lower(s[q]) == 0x68 && lower(s[q + 1]) == 0x72 && lower(s[q + 2]) == 0x65 && lower(s[q + 3]) == 0x66 {
                    attr = q
                    break
                }
                q += 1
            }
            if attr < 0 { continue }
            var i = attr + 4
            while i < close && s[i] == 0x20 { i += 1 }
            guard i < close, s[i] == 0x3D else { continue }
            i += 1
            while i < close && s[i] == 0x20 { i += 1 }
            guard i < close else { continue }
            let quote = s[i]
            if quote == 0x22 || quote == 0x27 {
                let start = i + 1
                var end = start
                while end < close && s[end] != quote { end += 1 }
                guard end < close else { continue }
                body(start, end)
            } else {
                var end = i
                while end < close && ![0x20, 0x09, 0x0A, 0x0D, 0x0C].contains(s[end]) { end += 1 }
                body(i, end)
            }
        }
    }

}
