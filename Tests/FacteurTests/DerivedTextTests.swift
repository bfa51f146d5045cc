import FacteurTestSupport
import Foundation
import Testing

@testable import Facteur

/// The text part derived once per template must read exactly as converting each message's HTML.
@Suite("Derived text part")
struct DerivedTextTests {
    static let html = """
        <h1>Bonjour {{first_name}}{{^first_name}}à vous{{/first_name}} !</h1>
        <p>Votre ville : {{attributes.city}}. Plan&nbsp;: <b>{{plan}}</b> &amp; points : {{points}}.</p>
        {{#company}}<p>Pour l'équipe de {{company.name}} :</p>{{/company}}
        <ul><li><a href="https://example.com/a?x=1&amp;y=2">Offre A</a></li>
        <li><a href="{{view_in_browser_url}}">Voir en ligne</a></li><li>{{email}}</li></ul>
        <table><tr><td>Prix</td><td>62,30&nbsp;€</td></tr></table>
        <p><img src="x.png" alt="Logo {{plan}}"></p>
        """

    static func template(_ html: String = Self.html, text: String? = nil, layout: String? = "default") async throws -> MessageTemplate {
        try MessageTemplate(
            subject: "S", html: html, text: text, layout: layout, layouts: try await MessageTemplateTests.layouts(),
            variables: .forMessages(customFields: ["plan", "city", "points"]))
    }

    /// Every message has these (the composer sets them).
    nonisolated(unsafe) static let urls: [String: Any] = [
        "view_in_browser_url": "https://news.example/v/abc", "preferences_url": "https://news.example/p/x",
        "unsubscribe_url": "https://news.example/u/abc",
        "footer": ["preferences": "Manage your preferences", "unsubscribe": "Unsubscribe"],
    ]

    nonisolated(unsafe) static let contexts: [[String: Any]] = [
        urls,
        [
            "first_name": "Élodie", "email": "elodie@exemple.fr", "plan": "premium <pro> & \"co\"", "points": Int64(120),
            "attributes": ["city": "Lyon d'en haut"], "company": ["name": "Atelier & Fils"], "locale": "fr",
            "view_in_browser_url": "https://news.example/v/abc", "preferences_url": "https://news.example/p/x",
            "unsubscribe_url": "https://news.example/u/abc", "campaign": ["subject": "Soldes"],
            "footer": ["preferences": "Manage your preferences", "unsubscribe": "Unsubscribe"],
        ],
        ["first_name": "", "plan": "&eacute; &amp; &#233;", "points": 0, "email": "x@y.z", "company": false].merging(urls) { $1 },
    ]

    @Test func the_derived_text_reads_as_the_converted_html_for_every_subscriber() async throws {
        let template = try await Self.template()
        #expect(template.derivedText != nil, "this template is derived once")
        for context in Self.contexts {
            let rendered = template.render(context)
            #expect(rendered.text == HTMLToText.convert(rendered.html), "context: \(context)")
        }
        let elodie = template.render(Self.contexts[1])
        #expect(elodie.text.contains("Bonjour Élodie !"))
        #expect(elodie.text.contains("Plan : premium <pro> & \"co\""))
        #expect(elodie.text.contains("Voir en ligne (https://news.example/v/abc)"))
        #expect(elodie.text.contains("Manage your preferences (https://news.example/p/x)"), "the layout's footer is in the text")
    }

    @Test func templates_the_derivation_cannot_follow_convert_each_message() async throws {
        for html in ["<p>{{{first_name}}}</p>", "<p>{{&first_name}}</p>"] {
            let template = try await Self.template(html)
            #expect(template.derivedText == nil, "\(html)")
            let rendered = template.render(["first_name": "<b>Élodie</b>"])
            #expect(rendered.text == "Élodie\n\nManage your preferences · Unsubscribe" || rendered.text.hasPrefix("Élodie"))
        }
        #expect(try await Self.template(text: "Plain {{first_name}}").derivedText == nil, "a text part of its own is used as is")
        #expect(try await Self.template(layout: nil).derivedText != nil)
    }

    @Test func a_layout_is_filled_and_partials_inlined_before_conversion() {
        let sources = [
            "outer": "<div>{{$content}}default{{/content}}</div><p>{{$footer}}Foot {{>sig}}{{/footer}}</p>", "sig": "<i>Claire</i>",
        ]
        #expect(
            DerivedText.flatten(html: "<b>Hi</b>", layout: "outer", sources: sources) == "<div><b>Hi</b></div><p>Foot <i>Claire</i></p>")
        #expect(DerivedText.flatten(html: "x", layout: "missing", sources: sources) == nil)
        #expect(DerivedText.flatten(html: "{{>nope}}", layout: nil, sources: sources) == nil)
        #expect(DerivedText.flatten(html: "x", layout: "sig", sources: sources) == nil, "a layout without a content block")
        // Block tags in the campaign's own HTML are not expanded into themselves (this looped).
        #expect(DerivedText.flatten(html: "{{$content}}x{{/content}}", layout: "outer", sources: sources) == nil)
    }
}
