import Facteur
import FacteurTestSupport
import Foundation
import Testing

@Suite("Message templates")
struct MessageTemplateTests {
    static let variables = TemplateVariables.forMessages(customFields: ["plan", "city"])

    static func layouts() async throws -> EmailLayouts {
        try await EmailLayouts.load(from: testHome.templatesDirectory.appendingPathComponent("email"))
    }

    @Test func fallbacks_work_as_people_expect() async throws {
        let template = try MessageTemplate(
            subject: "Bonjour {{first_name}}{{^first_name}}à vous{{/first_name}} — offre d'été",
            html: "<p>Hi {{first_name}}{{^first_name}}there{{/first_name}}, plan: {{attributes.plan}} & {{plan}}</p>",
            text: nil, layout: nil, layouts: .none, variables: Self.variables)
        let named = template.render(["first_name": "Élodie", "attributes": ["plan": "pro <b>"], "plan": "pro <b>"])
        #expect(named.subject == "Bonjour Élodie — offre d'été")
        #expect(named.html == "<p>Hi Élodie, plan: pro &lt;b&gt; & pro &lt;b&gt;</p>")
        #expect(named.text == "Hi Élodie, plan: pro <b> & pro <b>")
        let anonymous = template.render([:])
        #expect(anonymous.subject == "Bonjour à vous — offre d'été")
        #expect(anonymous.html.hasPrefix("<p>Hi there,"))
    }

    @Test func unknown_variables_and_bad_syntax_are_reported_with_line_and_column() throws {
        let error = #expect(throws: TemplateError.self) {
            try MessageTemplate(
                subject: "Hello {{frist_name}}", html: "<p>\n  {{#company}}{{company.name}}\n{{/topic}}</p>{{> footer}}",
                text: "{{unsubscribe_url",
                layout: "missing", layouts: .none, variables: Self.variables)
        }
        let problems = error?.problems ?? []
        #expect(
            problems.contains { $0.part == "subject" && $0.line == 1 && $0.column == 7 && $0.message.contains("did you mean 'first_name'") }
        )
        #expect(problems.contains { $0.part == "html" && $0.line == 3 && $0.message.contains("closes 'company' opened at line 2") })
        #expect(problems.contains { $0.part == "html" && $0.message == "unknown partial 'footer'" })
        #expect(problems.contains { $0.part == "text" && $0.message.contains("unclosed tag") })
        #expect(problems.contains { $0.part == "layout" })
    }

    @Test func a_layout_wraps_the_html_and_links_become_text_with_urls() async throws {
        let template = try MessageTemplate(
            subject: "News for {{first_name}}",
            html:
                #"<h1>Title</h1><p>Read <a href="https://example.com/a?x=1&amp;y=2">the article</a>.</p><ul><li>One</li><li>Two</li></ul>"#,
            text: nil, layout: "default", layouts: try await Self.layouts(), variables: Self.variables)
        let rendered = template.render([
            "locale": "fr", "campaign": ["subject": "News for {{first_name}}"], "preferences_url": "https://f.example/p/t",
            "unsubscribe_url": "https://f.example/u/t", "first_name": "Élodie",
            "footer": ["preferences": "Gérer vos préférences", "unsubscribe": "Unsubscribe"],
        ])
        #expect(rendered.subject == "News for Élodie")
        #expect(rendered.html.contains("<title>News for Élodie</title>"), "the layout's title is the subject as sent")
        #expect(rendered.html.contains("<!doctype html>"))
        #expect(rendered.html.contains(#"<html lang="fr">"#))
        #expect(rendered.html.contains("<h1>Title</h1>"))
        #expect(rendered.html.contains(#"href="https://f.example/u/t""#))
        #expect(rendered.text.contains("Read the article (https://example.com/a?x=1&y=2)."))
        #expect(rendered.text.contains("- One\n- Two"))
        #expect(rendered.text.contains("Unsubscribe (https://f.example/u/t)"))
        #expect(rendered.text.contains("Gérer vos préférences (https://f.example/p/t)"), "the footer's words come from the context")
        #expect(!rendered.text.contains("<"))
    }

    @Test func the_footer_is_in_the_subscribers_language() async throws {
        let layouts = try await Self.layouts()
        #expect(layouts.footer(locale: "fr") == ["preferences": "Gérer vos préférences", "unsubscribe": "Se désabonner"])
        #expect(layouts.footer(locale: "fr-CA")["preferences"] == "Gérer vos préférences")
        #expect(layouts.footer(locale: "de")["preferences"] == "Manage your preferences", "a language without strings: English")
        #expect(EmailLayouts.none.footer(locale: "fr")["unsubscribe"] == "Unsubscribe")
    }

    @Test func html_to_text_drops_styles_and_decodes_entities() {
        let text = HTMLToText.convert(
            "<html><head><style>p{color:red}</style><title>T</title></head><body><p>Caf&eacute; &amp; cr&#232;me&nbsp;br&ucirc;l&#xE9;e</p><br><img alt=\"Logo\" src=\"x.png\"><p><a href=\"https://x.example\">https://x.example</a></p></body></html>"
        )
        #expect(text == "Café & crème brûlée\n\nLogo\n\nhttps://x.example")
        #expect(!text.contains("color:red"))
        #expect(!text.contains("T\n"))
        #expect(text.hasSuffix("https://x.example"))
    }
}

@Suite("Calendar days")
struct CalendarDayTests {
    @Test(arguments: ["2024-02-29", "2026-12-31", "2000-02-29", "0001-01-01"])
    func real_days_normalize_like_the_full_parser(day: String) throws {
        let fast = try #require(ISODates.normalizeDay(day))
        #expect(fast == ISODates.format(try #require(ISODates.parse(day))))
    }

    @Test(arguments: ["2023-02-29", "1900-02-29", "2026-13-01", "2026-04-31", "2026-1-01", "2026/01/01", "abcd-ef-gh", "2026-00-10"])
    func impossible_days_are_refused(day: String) {
        #expect(ISODates.normalizeDay(day) == nil)
    }
}

@Suite("Link rewriting")
struct LinkRewriterTests {
    @Test func links_after_any_whitespace_including_crlf_are_tracked() {
        let html =
            "<p><a\r\nhref=\"https://example.com/a\">A</a> <a\thref=https://example.com/b\r\n>B</a> <abbr href=\"https://no\">x</abbr></p>"
        #expect(LinkRewriter.trackableLinks(in: html) == ["https://example.com/a", "https://example.com/b"])
        let rewritten = LinkRewriter.rewrite(html, links: ["https://example.com/a": 1, "https://example.com/b": 2]) { "https://t/\($0)" }
        #expect(rewritten == "<p><a\r\nhref=\"https://t/1\">A</a> <a\thref=https://t/2\r\n>B</a> <abbr href=\"https://no\">x</abbr></p>")
        #expect(LinkRewriter.addOpenPixel("<html><BODY>x</BODY></html>", url: "https://t/o").contains(#"<img src="https://t/o""#))
        #expect(LinkRewriter.addOpenPixel("<html><BODY>x</BODY></html>", url: "https://t/o").hasSuffix("</BODY></html>"))
    }
}

@Suite("Links placed in the template")
struct TrackedLinkTemplateTests {
    @Test func placing_links_in_the_template_gives_what_rewriting_each_message_gave() async throws {
        let html = """
            <p><a href="https://example.com/a">A</a> <A HREF='https://example.com/b?x=1&amp;y=2'>B</A>
            <a class="c" href=https://example.com/c>C</a> <a href="https://example.com/a">A again</a>
            <a href="https://example.com/{{plan}}">not tracked</a> <a href="mailto:hi@example.com">mail</a>
            {{#first_name}}<a href="https://example.com/d">Hi {{first_name}}</a>{{/first_name}}</p>
            """
        let links = Dictionary(uniqueKeysWithValues: LinkRewriter.trackableLinks(in: html).enumerated().map { ($1, Int64($0 + 10)) })
        #expect(links.count == 4)
        let layouts = try await MessageTemplateTests.layouts()
        let variables = MessageTemplateTests.variables
        let placed = try MessageTemplate(
            subject: "S", html: html, text: nil, layout: "default", layouts: layouts, variables: variables, trackedLinks: links)
        let plain = try MessageTemplate(subject: "S", html: html, text: nil, layout: "default", layouts: layouts, variables: variables)
        func url(_ id: Int64) -> String { "https://t.example/t/c/tok/\(id)" }
        for values in [["first_name": "Élodie", "plan": "pro"], [:]] {
            var context: [String: Any] = values.merging(["unsubscribe_url": "https://t.example/u/tok"]) { $1 }
            let expected = LinkRewriter.rewrite(plain.render(context).html, links: links, makeURL: url)
            for id in links.values { context[MessageTemplate.clickKey(id)] = url(id) }
            let rendered = placed.render(context)
            #expect(rendered.html == expected)
            #expect(rendered.text == plain.render(context).text, "the text part keeps the real destinations")
            #expect(rendered.text.contains("A (https://example.com/a)"))
        }
    }
}
