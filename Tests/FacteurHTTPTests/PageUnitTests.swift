import Facteur
import FacteurTestSupport
import Foundation
import Testing

@testable import FacteurHTTP

/// The pieces of the public pages that need no server: form decoding, language choice, and the
/// strings every template uses.
@Suite("Page pieces")
struct PageUnitTests {
    @Test func form_bodies_decode_like_a_browser_encodes_them() throws {
        let form = try FormBody(Array("csrf=a.b.c&topic=news&topic=events&name=Zo%C3%A9+Lef%C3%A8vre&empty=&flag".utf8))
        #expect(form.values("topic") == ["news", "events"])
        #expect(form.value("name") == "Zoé Lefèvre")
        #expect(form.value("empty") == "" && form.value("flag") == "")
        #expect(form.value("missing") == nil)
        #expect(try FormBody([]).fields.isEmpty)
        for bad in ["a=%", "a=%4", "a=%zz", "a=%C3", "a=%00", "a=x%0Bx", "%FF=1"] {
            #expect(throws: FacteurError.self, "\(bad)") { try FormBody(Array(bad.utf8)) }
        }
        #expect(try FormBody(Array("note=line%0D%0Anext%09tab".utf8)).value("note") == "line\r\nnext\ttab")
    }

    @Test func one_click_bodies_in_both_encodings_rfc_8058_allows() {
        #expect(PageController.isOneClick(Array("List-Unsubscribe=One-Click".utf8), contentType: "application/x-www-form-urlencoded"))
        #expect(PageController.isOneClick(Array("List-Unsubscribe=One-Click".utf8), contentType: nil))
        let multipart = "--b\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\"\r\n\r\nOne-Click\r\n--b--\r\n"
        #expect(PageController.isOneClick(Array(multipart.utf8), contentType: "multipart/form-data; boundary=b"))
        #expect(!PageController.isOneClick(Array("List-Unsubscribe=Yes".utf8), contentType: nil))
        #expect(PageController.isOneClick(Array("List-Unsubscribe=One-Click\r\n".utf8), contentType: nil))
        #expect(!PageController.isOneClick(Array("csrf=x".utf8), contentType: nil))
        #expect(!PageController.isOneClick([], contentType: nil))
    }

    @Test func the_language_is_the_choice_then_the_locale_then_accept_language_then_english() async throws {
        let pages = try await PageTemplates.load(from: testHome.templatesDirectory)
        #expect(pages.languages == ["en", "fr"])
        #expect(pages.language(choices: ["fr"], acceptLanguage: "en") == "fr")
        #expect(pages.language(choices: [nil, "fr-CA"], acceptLanguage: nil) == "fr")
        #expect(pages.language(choices: ["de", "pt-BR"], acceptLanguage: "de-DE,fr;q=0.8,en;q=0.5") == "fr")
        #expect(pages.language(choices: [], acceptLanguage: "en;q=0.4, fr;q=0.9") == "fr", "by quality, not by order")
        #expect(pages.language(choices: [], acceptLanguage: "fr;q=0, *") == "en", "q=0 means not this one")
        #expect(pages.language(choices: [], acceptLanguage: ";;,,q=x") == "en")
        #expect(pages.language(choices: [], acceptLanguage: nil) == "en")
    }

    /// Every `{{t.key}}` of every page and system email exists in every language: no page shows a key.
    @Test func every_string_a_template_uses_exists_in_every_language() async throws {
        let templates = testHome.templatesDirectory
        let strings = try ["en", "fr"].map { language in
            try JSONDecoder().decode(
                [String: String].self, from: Data(contentsOf: templates.appendingPathComponent("strings/\(language).json")))
        }
        let regex = try NSRegularExpression(pattern: #"\{\{\{?t\.([a-z0-9_]+)"#)
        var used: Set<String> = []
        for folder in ["pages", "system"] {
            for file in try FileManager.default.contentsOfDirectory(atPath: templates.appendingPathComponent(folder).path) {
                let text = try String(contentsOf: templates.appendingPathComponent("\(folder)/\(file)"), encoding: .utf8)
                for match in regex.matches(in: text, range: NSRange(text.startIndex..., in: text)) {
                    used.insert(String(text[Range(match.range(at: 1), in: text)!]))
                }
            }
        }
        #expect(used.count > 40)
        for (index, table) in strings.enumerated() {
            #expect(used.subtracting(table.keys).isEmpty, "language \(index) lacks \(used.subtracting(table.keys).sorted())")
        }
        // And the page titles and message pages the controller names.
        for key in ["not_found_title", "form_invalid_body", "unavailable_body", "check_inbox_title", "erased_title", "subscribe_title"] {
            #expect(strings.allSatisfy { $0[key] != nil }, "\(key)")
        }
    }

    @Test func strings_fill_in_the_pages_data_escaped() async throws {
        let pages = try await PageTemplates.load(from: testHome.templatesDirectory)
        let text = pages.string("unsubscribe_done_topic", language: "fr", data: ["topic_name": "<b>Offres</b>"])
        #expect(text == "Vous ne recevrez plus « &lt;b&gt;Offres&lt;/b&gt; ».")
        let html = pages.page("message", language: "en", data: ["title": "<script>", "body": "x"])
        #expect(html.contains("&lt;script&gt;") && !html.contains("<script>"))
    }

    @Test func sign_ups_are_counted_per_address_per_hour() {
        let limiter = SignupRateLimiter(limit: 2)
        let now = Date()
        #expect(limiter.allow("a", now: now) && limiter.allow("a", now: now))
        #expect(!limiter.allow("a", now: now))
        #expect(limiter.allow("b", now: now), "another address has its own count")
        #expect(limiter.allow("a", now: now.addingTimeInterval(3601)), "a new hour")
        // One IPv6 /64 is one client, however many of its addresses it uses.
        #expect(SignupRateLimiter.client("2001:db8:1:2::1") == SignupRateLimiter.client("2001:db8:1:2:ffff::9"))
        #expect(SignupRateLimiter.client("2001:db8:1:3::1") != SignupRateLimiter.client("2001:db8:1:2::1"))
        #expect(SignupRateLimiter.client("192.0.2.1") == "192.0.2.1")
        // A flood of addresses does not grow memory past the capacity.
        let small = SignupRateLimiter(limit: 1, capacity: 100)
        for index in 0..<1000 { _ = small.allow("10.0.\(index / 256).\(index % 256)", now: now) }
        #expect(small.allow("192.0.2.77", now: now.addingTimeInterval(120)))
    }
}
