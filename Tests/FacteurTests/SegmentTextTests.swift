import Foundation
import TestSupport
import Testing

@testable import Facteur

/// The text syntax: it reads the issue's example, reads back every tree it writes, and points at
/// mistakes by line and column.
@Suite("Segment rules (text)")
struct SegmentTextTests {
    static let schema = SegmentSchema(customFields: [
        Field(key: "country", type: .text, label: "Country"), Field(key: "seats", type: .number, label: "Seats"),
        Field(key: "trial", type: .boolean, label: "Trial"), Field(key: "trial_ends", type: .date, label: "Trial ends"),
        Field(key: "event", type: .text, label: "A field named like a keyword"),
    ])

    @Test func the_example_reads_as_the_same_tree_as_its_json() throws {
        let text = """
            country = "FR" and (opened within 30d or clicked campaign 12) and event page_view where path = "/pricing" count >= 5 within 7d and not topic "newsletter" unsubscribed
            """
        let json = #"""
            {"and": [{"field": "country", "op": "eq", "value": "FR"},
                     {"or": [{"activity": "opened", "within": "30d"}, {"activity": "clicked", "campaign": 12}]},
                     {"event": "page_view", "where": [{"property": "path", "op": "eq", "value": "/pricing"}], "count": {"gte": 5}, "within": "7d"},
                     {"not": {"topic": "newsletter", "state": "unsubscribed"}}]}
            """#
        let fromText = try SegmentText.parse(text, schema: Self.schema)
        #expect(fromText == (try SegmentRule(json: try JSONValue.parse(Data(json.utf8)), schema: Self.schema)))
        #expect(try SegmentText.parse(SegmentText.format(fromText), schema: Self.schema) == fromText)
    }

    @Test func every_leaf_kind_reads_and_writes() throws {
        let examples = [
            #"company industry = "Health" and company revenue > 1000000"#,
            #"company naics starts with "238220" and company employees between 5 and 15 and company region in ["QC", "ON"]"#,
            #"opened within 26w and not event purchase"#,
            #"received last 3 campaigns count = 3 and opened last 3 campaigns count = 0"#,
            #"clicked campaign 12 link "https://shop.example/pricing*" including machines"#,
            #"event purchase within 1y sum(amount) >= 1000 or event "order completed" where "cart total" > 10.5, plan != "free" count between 2 and 4"#,
            #"device mobile mostly or client "Gmail" from "2026-01-01T00:00:00Z" to "2026-06-01T00:00:00Z""#,
            #"created_at >= -30d and trial_ends < "2027-01-01T00:00:00Z" and email not exists and seats not in [1, 2] and trial != true"#,
            #"field event contains "x" and segment 7 and score > 80 and not (bounced or complained)"#,
            #"seats > 1e21 and seats < -1.5e-7 and created_at > "2026-05-01T12:00:00.5Z" and not not trial = true"#,
        ]
        for text in examples {
            let rule = try SegmentText.parse(text, schema: Self.schema)
            let written = SegmentText.format(rule)
            #expect(try SegmentText.parse(written, schema: Self.schema) == rule, "\(text) → \(written)")
        }
    }

    @Test func random_trees_read_back_from_their_text() throws {
        var generator = SeededRandom(seed: 7_7_2026)
        for index in 0..<1500 {
            let rule = SegmentRuleTests.randomRule(depth: 0, using: &generator)
            let text = SegmentText.format(rule)
            let again = try SegmentText.parse(text, schema: SegmentRuleTests.schema)
            #expect(again == rule, "tree \(index): \(text)")
            if again != rule { return }
        }
    }

    @Test func mistakes_name_their_line_and_column_and_what_was_expected() {
        let cases: [(String, String)] = [
            (#"country ="#, "line 1, column 10: expected a value"),
            (#"country = "FR" and"#, "line 1, column 19: expected a condition, found the end of the text"),
            (#"opened within 30 days"#, "line 1, column 15: expected a duration such as 24h, 30d, 2w or 1y, found the number 30"),
            ("country = \"FR\"\n  and (opened", "line 2, column 14: expected ')', found the end of the text"),
            ("country = \"FR\" and\n  contry = 1", "line 2, column 3: and[1].field: unknown field 'contry'"),
            (#"seats ~ 3"#, "line 1, column 7: unexpected character '~'"),
            (#"country = "FR"#, "line 1, column 11: this text has no closing quote"),
            (#"country = "FR" "DE""#, "expected 'and', 'or' or the end of the text, found the text \"DE\""),
            (#"topic news"#, "line 1, column 7: expected the topic's key in quotes, found 'news'"),
            (#"seats between 1 or 2"#, "expected 'and' between the two bounds, found 'or'"),
            (#"event purchase count ~ 2"#, "unexpected character '~'"),
            (#"seats > "three""#, "line 1, column 1: value: must be a number"),
            (String(repeating: "(", count: 5000) + "seats > 1", "the rule nests deeper than 20 levels"),
            ("seats in " + String(repeating: "[", count: 5000), "not lists nested this deep"),
        ]
        for (text, message) in cases {
            do {
                let rule = try SegmentText.parse(text, schema: Self.schema)
                Issue.record("\(text) was accepted as \(rule)")
            } catch let error as FacteurError {
                #expect(error.field == "text")
                #expect(error.message.contains(message), "\(text): \(error.message)")
            } catch {
                Issue.record("\(text): \(error)")
            }
        }
    }
}
