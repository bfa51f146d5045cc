import Facteur
import Foundation
import TestSupport
import Testing

/// Pins HTMLToText's output on 400 generated documents, so a faster rewrite cannot change what
/// subscribers read. The fixture was written by the byte-level version of November 2026; to
/// accept a deliberate change, run with FACTEUR_WRITE_FIXTURES=1 and review the diff.
@Suite("HTML to text corpus")
struct HTMLToTextCorpusTests {
    struct Case: Codable, Equatable {
        var html: String
        var text: String
    }

    static let fixture = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent(
        "Fixtures/html-to-text.json")

    @Test func the_generated_corpus_converts_exactly_as_pinned() throws {
        let cases = Self.corpus().map { Case(html: $0, text: HTMLToText.convert($0)) }
        if ProcessInfo.processInfo.environment["FACTEUR_WRITE_FIXTURES"] == "1" {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            try encoder.encode(cases).write(to: Self.fixture)
        }
        let pinned = try JSONDecoder().decode([Case].self, from: Data(contentsOf: Self.fixture))
        #expect(pinned.count == cases.count)
        for (got, want) in zip(cases, pinned) where got != want {
            Issue.record("html: \(want.html.debugDescription)\nwant: \(want.text.debugDescription)\ngot:  \(got.text.debugDescription)")
        }
    }

    /// Documents built from the pieces email HTML is made of, in random order and nesting:
    /// blocks, links (with and without text, mailto:, anchors, entities in href), images with
    /// alt, lists, tables, skipped elements, entities, odd whitespace, CRLF, uppercase and
    /// unclosed tags, non-ASCII text and a stray '<'.
    static func corpus(count: Int = 400) -> [String] {
        var random = SeededRandom(seed: 0x0FAC_7E0F)
        let pieces = [
            "<p>", "</p>", "<div>", "</div>", "<br>", "<br/>", "<BR>", "<h1>", "</h1>", "<li>", "</li>", "<ul>", "</ul>", "<td>", "</td>",
            "<tr>", "</tr>", "<table>", "</table>", "<hr>", "<img alt=\"Logo\" src=\"x.png\">", "<img src='y.png' ALT='Photo d’été'>",
            "<a href=\"https://example.com/a?x=1&amp;y=2\">", "<a href='https://example.com/b'>", "<a href=\"mailto:hi@example.com\">",
            "<a href=\"#top\">", "<A HREF=https://example.com/c>", "</a>", "</A>", "<style>p{color:red}</style>",
            "<script>var a = '<p>';</script>", "<head><title>T</title></head>", "<span>", "</span>", "<b>", "</b>", "Bonjour",
            "Élodie", "café &amp; crème", "&eacute;t&eacute;", "&#233;", "&#xE9;", "&unknown;", "& alone", "a &lt; b &gt; c", "&nbsp;",
            "  ", "\n", "\r\n", "\t", " \u{00A0} ", "https://example.com/a?x=1&y=2", "x < y", "3 > 2", "—", "😀", "<!-- comment -->",
            "<p class=\"x\" style=\"margin:0\">", "<blockquote>", "</blockquote>", "<section>", "</footer>", "<td>cell</td>",
        ]
        return (0..<count).map { _ in
            var html = ""
            for _ in 0..<(4 + Int(random.next() % 40)) { html += pieces[Int(random.next() % UInt64(pieces.count))] }
            return html
        }
    }

}
