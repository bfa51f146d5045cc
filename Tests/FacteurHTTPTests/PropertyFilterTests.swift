import FacteurTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import Facteur

/// `facteur_filter_match` (what scoring evaluates in the database) and the segment compiler's
/// expressions against `PropertyFilter.matches` (the Swift reference) on random properties and
/// random filters.
@Suite("Property filters")
struct PropertyFilterTests {
    static let keys = ["path", "amount", "plan", "flag", "cart"]
    static let words = ["/pricing", "/Pricing/plans", "/blog", "pro", "PRO", "Free", "été", "ÉTÉ", ""]

    static func randomValue(_ random: inout SeededRandom) -> JSONValue {
        switch Int.random(in: 0...6, using: &random) {
        case 0, 1: .string(words.randomElement(using: &random)!)
        case 2, 3: .number(Double(Int.random(in: -5...200, using: &random)) / (Bool.random(using: &random) ? 1 : 4))
        case 4: .bool(Bool.random(using: &random))
        case 5: .null
        default: .object(["total": .number(Double(Int.random(in: 0...300, using: &random)))])
        }
    }

    static func randomFilter(_ random: inout SeededRandom) -> PropertyFilter {
        let op = PropertyFilter.Operator.allCases.randomElement(using: &random)!
        let property = Int.random(in: 0...5, using: &random) == 0 ? "cart.total" : keys.randomElement(using: &random)!
        let number = JSONValue.number(Double(Int.random(in: 0...150, using: &random)))
        let scalar: JSONValue = Bool.random(using: &random) ? .string(words.randomElement(using: &random)!) : number
        let value: JSONValue =
            switch op {
            case .exists, .notExists: .null
            case .eq, .ne: scalar
            case .in, .notIn: .array([scalar, .string("pro"), .number(25)])
            case .contains, .startsWith, .endsWith: .string(["pri", "PRO", "/", "é", "log"].randomElement(using: &random)!)
            case .gt, .gte, .lt, .lte: number
            case .between: .array([.number(10), .number(Double(Int.random(in: 10...200, using: &random)))])
            }
        return PropertyFilter(property: property, op: op, value: value)
    }

    @Test func the_database_and_the_swift_reference_agree_on_random_data() async throws {
        try await withFacteurDatabase { database in
            var random = SeededRandom(seed: 5)
            var cases: [(properties: JSONValue, filters: [PropertyFilter])] = []
            for _ in 0..<1500 {
                var object: [String: JSONValue] = [:]
                for key in Self.keys where Bool.random(using: &random) { object[key] = Self.randomValue(&random) }
                let filters = (0..<Int.random(in: 1...2, using: &random)).map { _ in Self.randomFilter(&random) }
                // Every filter the API would store must validate.
                for filter in filters { _ = try PropertyFilter(json: filter.json, path: "f") }
                cases.append((.object(object), filters))
            }
            let rows = try await database.pool.query(
                """
                SELECT facteur_filters_match(p, f) AS matched
                  FROM unnest(\(cases.map { $0.properties.jsonText })::jsonb[], \(cases.map { $0.filters.json.jsonText })::jsonb[])
                       WITH ORDINALITY AS c(p, f, n)
                 ORDER BY n
                """)
            var disagreements: [String] = []
            for (index, row) in rows.enumerated() {
                let expected = cases[index].filters.matches(cases[index].properties)
                if try row.decode(Bool.self, "matched") != expected {
                    disagreements.append(
                        "\(cases[index].properties.jsonText) \(cases[index].filters.json.jsonText): swift says \(expected)")
                }
            }
            #expect(rows.count == cases.count)
            #expect(disagreements.isEmpty, "\(disagreements.prefix(5))")
            // Segments inline the filters as expressions on the event's properties.
            var compiledDisagreements: [String] = []
            for (properties, filters) in cases {
                let expected = filters.matches(properties)
                let sql: SQL = """
                    SELECT COALESCE(\(SQL.joined(filters.map(SegmentCompiler.matches), separator: " AND ")), false) AS matched
                      FROM (SELECT \(PostgresJSON(rawJSON: properties.jsonText))::jsonb AS properties) AS e
                    """
                if try await database.pool.query(sql)[0].decode(Bool.self, "matched") != expected {
                    compiledDisagreements.append("\(properties.jsonText) \(filters.json.jsonText): swift says \(expected)")
                }
            }
            #expect(compiledDisagreements.isEmpty, "\(compiledDisagreements.prefix(5))")
            let matched = cases.filter { $0.filters.matches($0.properties) }.count
            #expect(matched > 100 && matched < 1400, "the random cases exercise both answers (\(matched) of 1500 match)")
        }
    }

    @Test func bad_filters_name_the_offending_part() {
        for (json, field) in [
            (#"{"property": "a", "op": "eq"}"#, "f.value"), (#"{"property": "a", "op": "in", "value": []}"#, "f.value"),
            (#"{"property": "a", "op": "between", "value": [5, 1]}"#, "f.value"), (#"{"property": "a..b", "op": "exists"}"#, "f.property"),
            (#"{"property": "a", "op": "exists", "value": 1}"#, "f.value"), (#"{"op": "exists"}"#, "f.property"),
            (#"{"property": "a", "op": "contains", "value": ""}"#, "f.value"), (#"{"property": "a", "op": "regex", "value": "x"}"#, "f.op"),
        ] {
            #expect {
                _ = try PropertyFilter(json: try JSONValue.parse(Data(json.utf8)), path: "f")
            } throws: { error in
                (error as? FacteurError)?.field == field
            }
        }
    }
}
