import Foundation
import TestSupport
import Testing

@testable import Facteur

/// The rule tree's JSON form: what it accepts, what it refuses (and where), and that the
/// canonical form reads back to the same tree.
@Suite("Segment rules (JSON)")
struct SegmentRuleTests {
    static let schema = SegmentSchema(customFields: [
        Field(key: "country", type: .text, label: "Country"), Field(key: "seats", type: .number, label: "Seats"),
        Field(key: "trial", type: .boolean, label: "Trial"), Field(key: "trial_ends", type: .date, label: "Trial ends"),
    ])

    static func parse(_ text: String) throws -> SegmentRule {
        try SegmentRule(json: try JSONValue.parse(Data(text.utf8)), schema: schema)
    }

    /// The field and message of the error a rule gets.
    static func refusal(_ text: String) -> (field: String?, message: String)? {
        do {
            _ = try parse(text)
            return nil
        } catch let error as FacteurError {
            return (error.field, error.message)
        } catch {
            return (nil, "\(error)")
        }
    }

    @Test func company_attributes_take_their_type_from_the_condition() throws {
        let cases: [(String, SegmentRule.FieldType)] = [
            (#"{"company": "attributes.tier", "op": "eq", "value": "gold"}"#, .text),
            (#"{"company": "attributes.tier", "op": "in", "value": ["gold", "silver"]}"#, .text),
            (#"{"company": "attributes.seats", "op": "gt", "value": 10}"#, .number),
            (#"{"company": "attributes.seats", "op": "between", "value": [5, 15]}"#, .number),
            (#"{"company": "attributes.partner", "op": "eq", "value": true}"#, .boolean),
            (#"{"company": "attributes.renews_at", "op": "lt", "value": "-30d"}"#, .date),
            (#"{"company": "attributes.partner", "op": "exists"}"#, .text),
        ]
        for (json, type) in cases {
            let rule = try Self.parse(json)
            guard case .company(let condition) = rule else {
                Issue.record("\(json): \(rule)")
                continue
            }
            #expect(condition.type == type, "\(json)")
            // JSON and text both read back to the same tree.
            #expect(try SegmentRule(json: rule.json, schema: Self.schema) == rule)
            #expect(try SegmentText.parse(SegmentText.format(rule), schema: Self.schema) == rule, "\(SegmentText.format(rule))")
        }
        #expect(SegmentText.format(try Self.parse(cases[0].0)) == #"company attributes.tier = "gold""#)
        let badKey = Self.refusal(#"{"and": [{"topic": "news"}, {"company": "attributes.Tier-1", "op": "eq", "value": "x"}]}"#)
        #expect(badKey?.field == "and[1].company" && badKey?.message.contains("lowercase letters") == true, "\(String(describing: badKey))")
        let badValue = Self.refusal(#"{"company": "attributes.tier", "op": "contains", "value": 5}"#)
        #expect(badValue?.field == "op" && badValue?.message.contains("does not apply") == true, "\(String(describing: badValue))")
        let unknown = Self.refusal(#"{"company": "tier", "op": "eq", "value": "gold"}"#)
        #expect(unknown?.message.contains("unknown company field 'tier'") == true, "\(String(describing: unknown))")
    }

    @Test func the_seed_articles_segments_parse_and_read_back_the_same() throws {
        let examples = [
            // Health-sector companies with revenue above 1 M.
            #"{"and": [{"company": "industry", "op": "eq", "value": "Health"}, {"company": "revenue", "op": "gt", "value": 1000000}]}"#,
            // HVAC firms (NAICS 238220) with 5–15 employees in Québec.
            #"{"and": [{"company": "naics", "op": "starts_with", "value": "238220"}, {"company": "employees", "op": "between", "value": [5, 15]}, {"company": "region", "op": "eq", "value": "QC"}]}"#,
            // Opened in the last 6 months but never purchased.
            #"{"and": [{"activity": "opened", "within": "26w"}, {"not": {"event": "purchase"}}]}"#,
            // Trial users inactive for 30 days.
            #"{"and": [{"field": "trial", "op": "eq", "value": true}, {"not": {"or": [{"activity": "opened", "within": "30d"}, {"activity": "clicked", "within": "30d"}]}}]}"#,
            // Lead score above 80; clicked link X of campaign Y.
            #"{"or": [{"field": "score", "op": "gt", "value": 80}, {"activity": "clicked", "campaign": 12, "link": "https://shop.example/pricing*"}]}"#,
            // Received the last 3 campaigns and opened none.
            #"{"and": [{"activity": "received", "last_campaigns": 3, "count": {"eq": 3}}, {"activity": "opened", "last_campaigns": 3, "count": {"eq": 0}}]}"#,
            // page_view of /pricing at least 5 times in 7 days; purchases summed over a year ≥ 1000.
            #"{"and": [{"event": "page_view", "where": [{"property": "path", "op": "eq", "value": "/pricing"}], "within": "7d", "count": {"gte": 5}}, {"event": "purchase", "within": "1y", "aggregate": {"fn": "sum", "property": "amount", "op": "gte", "value": 1000}}]}"#,
            // Opens mostly on mobile; a Gmail reader; subscribed to news; signed up this month.
            #"{"and": [{"device": "mobile", "mostly": true}, {"client": "Gmail", "within": {"from": "2026-01-01"}}, {"topic": "news", "state": "subscribed"}, {"field": "created_at", "op": "gte", "value": "-30d"}, {"segment": 4}]}"#,
        ]
        for example in examples {
            let rule = try Self.parse(example)
            #expect(try SegmentRule(json: rule.json, schema: Self.schema) == rule, "\(example)")
        }
        let hvac = try Self.parse(examples[1])
        guard case .and(let parts) = hvac, case .company(let employees) = parts[1] else {
            Issue.record("not an and of conditions")
            return
        }
        #expect(employees.type == .number && employees.op == .between && employees.value == .numberRange(5, 15))
        let received = try Self.parse(examples[5])
        guard case .and(let both) = received, case .activity(let opened) = both[1] else {
            Issue.record("not activities")
            return
        }
        #expect(opened.count == SegmentRule.CountBound(min: 0, max: 0) && opened.lastCampaigns == 3 && !opened.includeMachine)
        let mixed = try Self.parse(examples[7])
        #expect(mixed.leafCount == 5 && mixed.depth == 2 && mixed.referencedSegments == [4])
        guard case .and(let leaves) = mixed, case .field(let created) = leaves[3], case .date(let when) = created.value else {
            Issue.record("no relative date")
            return
        }
        let now = Date(timeIntervalSince1970: 1_800_000_000)
        #expect(when.resolve(now: now) == now.addingTimeInterval(-30 * 86_400))
    }

    @Test func mistakes_are_refused_with_the_place_in_the_tree() {
        let cases: [(String, String, String)] = [
            (
                #"{"and": [{"field": "country", "op": "eq", "value": "FR"}, {"or": [{"field": "contry", "op": "eq", "value": "FR"}]}]}"#,
                "and[1].or[0].field", "unknown field 'contry'"
            ),
            (#"{"and": [{"field": "seats", "op": "gt", "value": "many"}]}"#, "and[0].value", "must be a number"),
            (#"{"field": "seats", "op": "contains", "value": "1"}"#, "op", "does not apply to the number field 'seats'"),
            (#"{"field": "trial_ends", "op": "eq", "value": "2026-01-01"}"#, "op", "does not apply to the date field"),
            (#"{"field": "trial_ends", "op": "gt", "value": "soon"}"#, "value", "must be a date"),
            (#"{"field": "country", "op": "like", "value": "F%"}"#, "op", "unknown operator 'like'"),
            (#"{"field": "country", "op": "exists", "value": "x"}"#, "value", "takes no value"),
            (#"{"field": "seats", "op": "between", "value": [9, 1]}"#, "value", "low must not be above high"),
            (#"{"and": []}"#, "and", "non-empty list"),
            (#"{"or": [{"not": {"and": [{}]}}]}"#, "or[0].not.and[0]", "names no condition"),
            (#"{"field": "country", "topic": "news"}"#, "rule", "mixes field and topic"),
            (#"{"company": "planet", "op": "eq", "value": "Mars"}"#, "company", "unknown company field 'planet'"),
            (#"{"topic": "news", "state": "maybe"}"#, "state", "subscribed, unsubscribed or never"),
            (#"{"activity": "opened", "link": "https://x.example"}"#, "link", "clicked only"),
            (#"{"activity": "clicked", "campaign": 1, "last_campaigns": 2}"#, "last_campaigns", "not both"),
            (#"{"activity": "opened", "within": "30 days"}"#, "within", "must be a duration"),
            (#"{"activity": "opened", "count": {"gte": 5, "lt": 3}}"#, "count", "no count can satisfy it"),
            (#"{"activity": "bounced", "machine": true}"#, "machine", "opened and clicked only"),
            (#"{"activity": "viewed"}"#, "activity", "must be one of"),
            (
                #"{"event": "purchase", "aggregate": {"fn": "median", "property": "amount", "op": "gt", "value": 1}}"#, "aggregate.fn",
                "sum, avg"
            ),
            (#"{"event": "purchase", "where": [{"property": "amount", "op": "gt", "value": "x"}]}"#, "where[0].value", "number"),
            (#"{"device": "watch"}"#, "device", "mobile, tablet, desktop or other"),
            (#"{"device": "mobile", "mostly": true, "within": "30d"}"#, "within", "does not apply with mostly"),
            (#"{"segment": 0}"#, "segment", "between 1"),
            (#"{"segment": 3, "extra": 1}"#, "extra", "unknown field 'extra'"),
            ("[1]", "rule", "must be an object"),
            (#"{"field": "country", "op": "eq", "value": "F\u0000R"}"#, "value", "control character"),
            (#"{"field": "country", "op": "in", "value": ["FR", "\n"]}"#, "value[1]", "control character"),
            (#"{"activity": "opened", "within": "+5d"}"#, "within", "must be a duration"),
            (#"{"field": "created_at", "op": "gt", "value": "-+5d"}"#, "value", "must be a date"),
        ]
        for (rule, field, message) in cases {
            let refused = Self.refusal(rule)
            #expect(refused?.field == field, "\(rule): \(String(describing: refused))")
            #expect(refused?.message.contains(message) == true, "\(rule): \(String(describing: refused))")
        }
    }

    @Test func depth_and_size_are_bounded() {
        var deep = #"{"topic": "news"}"#
        for _ in 0..<20 { deep = #"{"not": \#(deep)}"# }
        #expect(Self.refusal(deep)?.message.contains("deeper than 20") == true)
        var ok = #"{"topic": "news"}"#
        for _ in 0..<19 { ok = #"{"not": \#(ok)}"# }
        #expect(Self.refusal(ok) == nil, "20 levels are allowed")
        let leaf = #"{"topic": "news"}"#
        let many = #"{"or": [\#(Array(repeating: leaf, count: 201).joined(separator: ","))]}"#
        let refused = Self.refusal(many)
        #expect(refused?.field == "or[200]" && refused?.message.contains("more than 200 conditions") == true)
        #expect(Self.refusal(#"{"or": [\#(Array(repeating: leaf, count: 200).joined(separator: ","))]}"#) == nil)
    }

    @Test func random_trees_read_back_from_their_canonical_json() throws {
        var generator = SeededRandom(seed: 20_261_123)
        for index in 0..<1500 {
            let rule = Self.randomRule(depth: 0, using: &generator)
            let again = try SegmentRule(json: rule.json, schema: Self.schema)
            #expect(again == rule, "tree \(index): \(rule.json.jsonText)")
            if again != rule { return }
        }
    }

    // MARK: Random trees

    static func randomRule(depth: Int, using generator: inout SeededRandom) -> SegmentRule {
        let branch = depth < 4 ? Int.random(in: 0..<12, using: &generator) : 3 + Int.random(in: 0..<9, using: &generator)
        func children() -> [SegmentRule] {
            (0..<Int.random(in: 2...3, using: &generator)).map { _ in randomRule(depth: depth + 1, using: &generator) }
        }
        func window() -> SegmentRule.Window? {
            switch Int.random(in: 0..<3, using: &generator) {
            case 0: return nil
            case 1:
                let amount = Int64.random(in: 1...400, using: &generator)
                return .last(seconds: amount * 86_400, text: "\(amount)d")
            default:
                return .between(
                    from: Date(timeIntervalSince1970: Double(Int.random(in: 1_600_000_000...1_700_000_000, using: &generator))), to: nil)
            }
        }
        func count() -> SegmentRule.CountBound {
            [.atLeastOne, .init(min: 0, max: 0), .init(min: 3), .init(min: 2, max: 5), .init(max: 4)][
                Int.random(in: 0..<5, using: &generator)]
        }
        switch branch {
        case 0: return .and(children())
        case 1: return .or(children())
        case 2: return .not(randomRule(depth: depth + 1, using: &generator))
        case 3:
            let text = ["FR", "Lyon", "é\"<>", ""][Int.random(in: 0..<4, using: &generator)]
            let options: [SegmentRule.Condition] = [
                .init(field: "country", type: .text, op: .eq, value: .text(text)),
                .init(field: "country", type: .text, op: .in, value: .texts(["FR", "BE"])),
                .init(field: "seats", type: .number, op: .between, value: .numberRange(1, 9.5)),
                .init(field: "trial", type: .boolean, op: .ne, value: .bool(true)),
                .init(field: "trial_ends", type: .date, op: .lt, value: .date(.relative(seconds: -7 * 86_400, text: "-7d"))),
                .init(field: "created_at", type: .date, op: .gte, value: .date(.absolute(Date(timeIntervalSince1970: 1_700_000_000)))),
                .init(field: "email", type: .text, op: .notExists, value: .none),
            ]
            return .field(options[Int.random(in: 0..<options.count, using: &generator)])
        case 4:
            return .company(
                .init(field: "employees", type: .number, op: .gte, value: .number(Double(Int.random(in: 0...500, using: &generator)))))
        case 5:
            return .topic(key: "news", state: SegmentRule.TopicState.allCases[Int.random(in: 0..<3, using: &generator)])
        case 6, 7:
            let kind = SegmentRule.Activity.Kind.allCases[Int.random(in: 0..<6, using: &generator)]
            return .activity(
                .init(
                    kind: kind, campaign: Bool.random(using: &generator) ? Int64.random(in: 1...99, using: &generator) : nil,
                    link: kind == .clicked && Bool.random(using: &generator) ? "https://shop.example/*" : nil, window: window(),
                    count: count(),
                    includeMachine: (kind == .opened || kind == .clicked) && Bool.random(using: &generator)))
        case 8, 9:
            return .event(
                .init(
                    name: "purchase",
                    filters: Bool.random(using: &generator) ? [PropertyFilter(property: "plan", op: .eq, value: .string("pro"))] : [],
                    window: window(), count: count(),
                    aggregate: Bool.random(using: &generator)
                        ? .init(function: .sum, property: "amount", op: .gte, value: .number(1000)) : nil))
        case 10:
            let mostly = Bool.random(using: &generator)
            return .technographic(.init(dimension: .device, value: "mobile", mostly: mostly, window: mostly ? nil : window()))
        default:
            return .segment(Int64.random(in: 1...50, using: &generator))
        }
    }
}
