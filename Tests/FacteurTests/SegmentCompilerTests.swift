import FacteurTestSupport
import Foundation
import Postgres
import TestSupport
import Testing

@testable import Facteur

/// The compiled SQL against the reference evaluator, on random data and random trees in a real
/// database: every leaf kind, missing values, windows, counts, aggregates and negations.
@Suite("Segment compiler")
struct SegmentCompilerTests {
    static let now = Date(timeIntervalSince1970: 1_793_491_200)  // 2026-11-01T00:00:00Z, whole seconds
    static let schema = SegmentSchema(customFields: [
        Field(key: "country", type: .text, label: "Country"), Field(key: "seats", type: .number, label: "Seats"),
        Field(key: "trial", type: .boolean, label: "Trial"), Field(key: "trial_ends", type: .date, label: "Trial ends"),
    ])

    @Test func random_segments_select_what_the_reference_evaluator_selects() async throws {
        try await withFacteurDatabase { database in
            var random = SeededRandom(seed: 2026_11_23)
            var world = try await Self.seed(database, using: &random)
            world.segments = [
                1: .activity(.init(kind: .opened, window: .last(seconds: 30 * 86_400, text: "30d"))),
                2: .and([
                    .topic(key: "news", state: .subscribed), .field(.init(field: "score", type: .number, op: .gt, value: .number(50))),
                ]),
            ]
            // Segment 2 is static: its snapshot holds what its rule selected when it was taken.
            for (id, rule) in world.segments.sorted(by: { $0.key < $1.key }) {
                try await database.pool.execute(
                    """
                    INSERT INTO segments (id, name, definition, kind) OVERRIDING SYSTEM VALUE
                    VALUES (\(id), \("s\(id)"), \(PostgresJSON(rawJSON: rule.json.jsonText)), \(id == 2 ? "static" : "dynamic"))
                    """)
            }
            try await database.pool.execute(
                "INSERT INTO segment_members (segment_id, subscriber_id) SELECT 2, unnest(\(world.members(.segment(2))))")
            // Its rule has changed since the snapshot: the compiler must read the snapshot, not the rule.
            var definitions = world.segments
            definitions[2] = .field(.init(field: "country", type: .text, op: .eq, value: .text("fr")))
            // Topic conditions by id (as the service compiles them) and by key (without the ids).
            var topics: [String: Int64] = [:]
            for row in try await database.pool.query("SELECT id, key FROM topics") {
                topics[try row.decode(String.self, "key")] = try row.decode(Int64.self, "id")
            }
            let compiler = SegmentCompiler(schema: Self.schema, segments: definitions, snapshots: [2], topics: topics, now: Self.now)
            let byKey = SegmentCompiler(schema: Self.schema, segments: definitions, snapshots: [2], now: Self.now)
            var nonEmpty = 0
            for index in 0..<400 {
                let rule = Self.randomRule(depth: 0, using: &random)
                let expected = world.members(rule)
                let rows = try await database.pool.query(try (index.isMultiple(of: 5) ? byKey : compiler).members(rule))
                let actual = try rows.map { try $0.decode(Int64.self, "id") }
                #expect(actual == expected, "tree \(index): \(SegmentText.format(rule))")
                if actual != expected { return }
                if !expected.isEmpty && expected.count < world.people.count { nonEmpty += 1 }
            }
            #expect(nonEmpty > 100, "most random segments select some people but not all (\(nonEmpty))")
        }
    }

    /// A custom field's condition must be the very expression its statistics describe, or
    /// PostgreSQL guesses its share of people (half a percent) and plans on that guess.
    @Test func custom_field_conditions_are_estimated_from_their_statistics() async throws {
        try await withFacteurDatabase { database in
            let registry = FieldRegistry(database: database)
            for json in [#"{"key": "plan", "type": "text"}"#, #"{"key": "seats", "type": "number"}"#] {
                _ = try await registry.create(try JSONValue.parse(Data(json.utf8)))
            }
            try await database.pool.execute(
                """
                INSERT INTO subscribers (email, attributes)
                SELECT 'p' || g || '@example.com',
                       jsonb_build_object('plan', CASE WHEN g % 4 = 0 THEN 'Trial' ELSE 'free' END, 'seats', g % 10)
                  FROM generate_series(1, 4000) AS g
                """)
            try await database.pool.execute("ANALYZE subscribers")
            let schema = SegmentSchema(customFields: try await registry.list())
            func estimate(_ text: String) async throws -> Int {
                let count = try SegmentCompiler(schema: schema).count(try SegmentText.parse(text, schema: schema))
                let plan = try await database.pool.query(SQL(unsafeSQL: "EXPLAIN " + count.text, binds: count.binds))
                    .map { try $0.decode(String.self, "QUERY PLAN") }
                guard let scan = plan.first(where: { $0.contains("Scan on subscribers") }),
                    let rows = scan.range(of: #"rows=(\d+)"#, options: .regularExpression).map({ Int(scan[$0].dropFirst(5))! })
                else { throw TestSetupError(description: plan.joined(separator: "\n")) }
                return rows
            }
            // 1,000 of 4,000 are on the trial plan (any case); 1,600 have more than 5 seats.
            #expect((800...1200).contains(try await estimate(#"plan = "trial""#)))
            #expect((1300...1900).contains(try await estimate("seats > 5")))

            // Fields registered before the statistics existed get them from `facteur migrate`.
            try await database.pool.execute("DROP STATISTICS facteur_field_plan")
            #expect(try await registry.ensureStatistics() == 1)
            #expect(try await registry.ensureStatistics() == 0)
            #expect((800...1200).contains(try await estimate(#"plan = "trial""#)))
        }
    }

    @Test func the_seed_articles_segments_run() async throws {
        try await withFacteurDatabase { database in
            var random = SeededRandom(seed: 11)
            let world = try await Self.seed(database, using: &random)
            let compiler = SegmentCompiler(schema: Self.schema, now: Self.now)
            let texts = [
                #"company industry = "Health" and company revenue > 1000000"#,
                #"company naics starts with "238220" and company employees between 5 and 15 and company region = "QC""#,
                #"opened within 26w and not event purchase"#,
                #"trial = true and not (opened within 30d or clicked within 30d)"#,
                #"score > 80 or clicked campaign 2 link "https://shop.example/pricing*""#,
                #"received last 3 campaigns count >= 2 and opened last 3 campaigns count = 0"#,
                #"event purchase within 1y sum(amount) >= 100 and device mobile"#,
            ]
            for text in texts {
                let rule = try SegmentText.parse(text, schema: Self.schema)
                let rows = try await database.pool.query(try compiler.members(rule))
                #expect(try rows.map { try $0.decode(Int64.self, "id") } == world.members(rule), "\(text)")
                let count = try await database.pool.query(try compiler.count(rule))[0].decode(Int.self, "n")
                #expect(count == rows.count)
            }
            // A segment that refers to itself, through another, is refused.
            let looping = SegmentCompiler(schema: Self.schema, segments: [1: .segment(2), 2: .segment(1)], now: Self.now)
            #expect(throws: FacteurError.self) { try looping.check(.segment(1)) }
            #expect(throws: FacteurError.self) { try compiler.check(.segment(99)) }
        }
    }

    // MARK: Data

    static let domains = ["a.example", "b.example", "shop.test"]
    static let urls = ["https://shop.example/a", "https://shop.example/pricing?x=1", "https://blog.example/post"]

    /// Writes random people, companies, subscriptions, campaigns and events, and returns the same in memory.
    static func seed(_ database: Database, using random: inout SeededRandom) async throws -> SegmentWorld {
        let pool = database.pool
        var world = SegmentWorld(now: now)
        let companyRows: [(String, String?, String?, Int?, Double?, String?)] = [
            ("Clinique", "Health", "621111", 40, 2_500_000, "QC"), ("Froid", "HVAC", "238220", 12, 900_000, "qc"),
            ("Chaud", "hvac", "2382", 5, nil, "ON"), ("Boutique", nil, nil, nil, 150_000.5, nil),
        ]
        // Their own attributes, of mixed types (a tier of the wrong type counts as missing).
        let companyAttributes: [[String: JSONValue]] = [
            ["tier": .string("Gold"), "seats": .number(50), "renews_at": .string("2026-12-01T00:00:00Z"), "partner": .bool(true)],
            ["tier": .string("silver"), "seats": .number(8), "renews_at": .string("2026-09-01T00:00:00Z")],
            ["tier": .number(3), "partner": .null], [:],
        ]
        for (index, company) in companyRows.enumerated() {
            let id = try await pool.query(
                """
                INSERT INTO companies (name, industry, naics, employees, revenue, region, attributes)
                VALUES (\(company.0), \(company.1), \(company.2), \(company.3), \(company.4), \(company.5),
                        \(PostgresJSON(rawJSON: JSONValue.object(companyAttributes[index]).jsonText))) RETURNING id
                """)[0].decode(Int64.self, "id")
            world.companies[id] = .init(
                id: id, name: company.0, industry: company.1, naics: company.2, employees: company.3, revenue: company.4, region: company.5,
                attributes: companyAttributes[index])
        }
        let companyIDs = world.companies.keys.sorted()
        for index in 0..<40 {
            var attributes: [String: JSONValue] = [:]
            if let country = ["FR", "fr", "BE", nil][Int.random(in: 0..<4, using: &random)] { attributes["country"] = .string(country) }
            if let seats = [1.0, 5, 12, nil][Int.random(in: 0..<4, using: &random)] { attributes["seats"] = .number(seats) }
            if let trial = [true, false, nil][Int.random(in: 0..<3, using: &random)] { attributes["trial"] = .bool(trial) }
            if Bool.random(using: &random) {
                attributes["trial_ends"] = .string(
                    ISODates.format(now.addingTimeInterval(Double(Int.random(in: -60...60, using: &random)) * 86_400)))
            }
            let person = SegmentWorld.Person(
                id: 0, email: "p\(index)@\(domains[index % 3])", name: "Person \(index)",
                status: ["active", "active", "unsubscribed", "pending"][Int.random(in: 0..<4, using: &random)],
                locale: ["en", "fr", "fr-CA"][Int.random(in: 0..<3, using: &random)],
                createdAt: now.addingTimeInterval(-Double(Int.random(in: 0...400, using: &random)) * 86_400),
                score: Double(Int.random(in: 0...200, using: &random)) / 2, attributes: attributes,
                company: Bool.random(using: &random) ? companyIDs[Int.random(in: 0..<companyIDs.count, using: &random)] : nil)
            let id = try await pool.query(
                """
                INSERT INTO subscribers (email, name, status, locale, created_at, score, attributes, company_id)
                VALUES (\(person.email), \(person.name), \(person.status), \(person.locale), \(person.createdAt), \(person.score),
                        \(PostgresJSON(rawJSON: JSONValue.object(attributes).jsonText)), \(person.company)) RETURNING id
                """)[0].decode(Int64.self, "id")
            var stored = person
            stored.id = id
            world.people.append(stored)
        }
        try await pool.execute("INSERT INTO topics (key, name) VALUES ('news', 'News'), ('events', 'Events'), ('offers', 'Offers')")
        for person in world.people {
            for topic in ["news", "events", "offers"] {
                guard let status = ["subscribed", "unsubscribed", nil][Int.random(in: 0..<3, using: &random)] else { continue }
                try await pool.execute(
                    """
                    INSERT INTO subscriptions (subscriber_id, topic_id, status, source)
                    SELECT \(person.id), id, \(status), 'api' FROM topics WHERE key = \(topic)
                    """)
                world.subscriptions[person.id, default: [:]][topic] = status
            }
        }
        let template = try await pool.query("INSERT INTO templates (name, subject, html) VALUES ('t', 's', 'h') RETURNING id")[0].decode(
            Int64.self, "id")
        for day in [90, 60, 30, nil] as [Int?] {
            let started = day.map { now.addingTimeInterval(-Double($0) * 86_400) }
            let id = try await pool.query(
                """
                INSERT INTO campaigns (name, subject, from_email, template_id, status, started_at)
                VALUES ('c', 's', 'n@example.com', \(template), \(started == nil ? "draft" : "sending"), \(started)) RETURNING id
                """)[0].decode(Int64.self, "id")
            world.campaigns[id] = started
        }
        let campaignIDs = world.campaigns.keys.sorted()
        for url in urls {
            let id = try await pool.query("INSERT INTO campaign_links (campaign_id, url) VALUES (\(campaignIDs[1]), \(url)) RETURNING id")[
                0
            ]
            .decode(Int64.self, "id")
            world.links[id] = url
        }
        let linkIDs = world.links.keys.sorted()
        let types = ["sent", "sent", "open", "open", "click", "bounce", "unsubscribe", "complaint", "page_view", "purchase"]
        for _ in 0..<700 {
            let type = types[Int.random(in: 0..<types.count, using: &random)]
            let person = world.people[Int.random(in: 0..<world.people.count, using: &random)]
            let email = !["page_view", "purchase"].contains(type)
            let tracked = type == "open" || type == "click"
            var properties: [String: JSONValue] = [:]
            if type == "page_view" { properties["path"] = .string(["/pricing", "/home"][Int.random(in: 0..<2, using: &random)]) }
            if type == "purchase" {
                properties["amount"] =
                    Bool.random(using: &random) ? .number(Double(Int.random(in: 1...300, using: &random))) : .string("n/a")
                properties["plan"] = .string(["pro", "free"][Int.random(in: 0..<2, using: &random)])
            }
            let event = SegmentWorld.Event(
                type: type, subscriber: person.id, campaign: email ? campaignIDs[Int.random(in: 0..<3, using: &random)] : nil,
                link: type == "click" ? linkIDs[Int.random(in: 0..<linkIDs.count, using: &random)] : nil,
                machine: tracked && Int.random(in: 0..<4, using: &random) == 0,
                device: tracked ? ["mobile", "desktop", "tablet"][Int.random(in: 0..<3, using: &random)] : nil,
                client: tracked ? ["Gmail", "Apple Mail", "Outlook"][Int.random(in: 0..<3, using: &random)] : nil,
                properties: .object(properties),
                occurredAt: now.addingTimeInterval(-Double(Int.random(in: 0...(400 * 86_400), using: &random))))
            try await pool.execute(
                """
                INSERT INTO events (type, subscriber_id, campaign_id, link_id, machine, device, client, properties, occurred_at)
                VALUES (\(event.type), \(event.subscriber), \(event.campaign), \(event.link), \(event.machine), \(event.device), \(event.client),
                        \(PostgresJSON(rawJSON: event.properties.jsonText)), \(event.occurredAt))
                """)
            world.events.append(event)
        }
        for row in try await pool.query("SELECT subscriber_id, top_device, top_client FROM engagement") {
            let id = try row.decode(Int64.self, "subscriber_id")
            world.topDevice[id] = try row.decode(String?.self, "top_device")
            world.topClient[id] = try row.decode(String?.self, "top_client")
        }
        return world
    }

    // MARK: Random trees over that data

    static func randomRule(depth: Int, using random: inout SeededRandom) -> SegmentRule {
        func pick<T>(_ items: [T]) -> T { items[Int.random(in: 0..<items.count, using: &random)] }
        let branch = depth < 3 ? Int.random(in: 0..<15, using: &random) : Int.random(in: 3..<15, using: &random)
        func window() -> SegmentRule.Window? {
            switch Int.random(in: 0..<3, using: &random) {
            case 0: return nil
            case 1:
                let days = pick([7, 30, 90, 200])
                return .last(seconds: Int64(days) * 86_400, text: "\(days)d")
            default: return .between(from: now.addingTimeInterval(-300 * 86_400), to: now.addingTimeInterval(-100 * 86_400))
            }
        }
        func count() -> SegmentRule.CountBound {
            pick([.atLeastOne, .atLeastOne, .init(min: 0, max: 0), .init(min: 2), .init(min: 1, max: 3), .init(max: 1)])
        }
        func company() -> SegmentRule {
            let conditions: [SegmentRule.Condition] = [
                .init(field: "industry", type: .text, op: pick([.eq, .ne]), value: .text(pick(["hvac", "Health"]))),
                .init(field: "naics", type: .text, op: .startsWith, value: .text(pick(["2382", "238220", "62"]))),
                .init(field: "employees", type: .number, op: .between, value: .numberRange(5, 15)),
                .init(field: "revenue", type: .number, op: pick([.gt, .notExists]), value: .number(1_000_000)),
                .init(field: "region", type: .text, op: .in, value: .texts(["QC"])),
                .init(field: "name", type: .text, op: pick([.eq, .ne]), value: .text("froid")),
                .init(field: "attributes.tier", type: .text, op: pick([.eq, .ne]), value: .text("gold")),
                .init(field: "attributes.tier", type: .text, op: pick([.in, .notIn]), value: .texts(["GOLD", "bronze"])),
                .init(field: "attributes.seats", type: .number, op: pick([.gt, .lte, .ne]), value: .number(10)),
                .init(
                    field: "attributes.renews_at", type: .date, op: pick([.lt, .gte]),
                    value: .date(.absolute(now.addingTimeInterval(10 * 86_400)))),
                .init(field: "attributes.partner", type: .boolean, op: pick([.eq, .ne]), value: .bool(true)),
                .init(field: "attributes.partner", type: .text, op: pick([.exists, .notExists]), value: .none),
            ]
            var condition = pick(conditions)
            if condition.op == .notExists { condition.value = .none }
            return .company(condition)
        }
        switch branch {
        case 0: return .and((0..<Int.random(in: 2...3, using: &random)).map { _ in randomRule(depth: depth + 1, using: &random) })
        case 1: return .or((0..<Int.random(in: 2...3, using: &random)).map { _ in randomRule(depth: depth + 1, using: &random) })
        case 2: return .not(randomRule(depth: depth + 1, using: &random))
        case 3, 4:
            let conditions: [SegmentRule.Condition] = [
                .init(field: "country", type: .text, op: pick([.eq, .ne]), value: .text(pick(["fr", "BE", "de"]))),
                .init(field: "country", type: .text, op: pick([.in, .notIn]), value: .texts(["FR", "be"])),
                .init(field: "country", type: .text, op: pick([.exists, .notExists]), value: .none),
                .init(field: "seats", type: .number, op: pick([.gt, .lte, .ne, .eq]), value: .number(pick([1, 5, 6]))),
                .init(field: "seats", type: .number, op: .between, value: .numberRange(2, 12)),
                .init(field: "seats", type: .number, op: pick([.in, .notIn]), value: .numbers([1, 12])),
                .init(
                    field: "created_at", type: .date, op: .between,
                    value: .dateRange(.relative(seconds: -200 * 86_400, text: "-200d"), .absolute(now.addingTimeInterval(-30 * 86_400)))),
                .init(
                    field: "created_at", type: .date, op: pick([.gt, .lte]), value: .date(.absolute(now.addingTimeInterval(-150 * 86_400)))),
                .init(field: "trial", type: .boolean, op: pick([.eq, .ne]), value: .bool(Bool.random(using: &random))),
                .init(field: "trial_ends", type: .date, op: pick([.lt, .gte]), value: .date(.relative(seconds: 0, text: "-0d"))),
                .init(
                    field: "created_at", type: .date, op: pick([.gte, .lt]), value: .date(.relative(seconds: -90 * 86_400, text: "-90d"))),
                .init(
                    field: "email", type: .text, op: pick([.endsWith, .contains, .startsWith]),
                    value: .text(pick(["A.EXAMPLE", "p1", "@shop"]))),
                .init(field: "domain", type: .text, op: .eq, value: .text("shop.test")),
                .init(field: "status", type: .text, op: .in, value: .texts(["active", "pending"])),
                .init(field: "locale", type: .text, op: .startsWith, value: .text("fr")),
                .init(field: "score", type: .number, op: pick([.gte, .lt]), value: .number(pick([25, 50, 75.5]))),
            ]
            return .field(pick(conditions))
        case 5: return company()
        case 6: return .topic(key: pick(["news", "events", "offers", "ghost"]), state: pick(SegmentRule.TopicState.allCases))
        case 7, 8, 9:
            let kind = pick(SegmentRule.Activity.Kind.allCases)
            let campaignChoice = Int.random(in: 0..<3, using: &random)
            return .activity(
                .init(
                    kind: kind, campaign: campaignChoice == 1 ? Int64(Int.random(in: 1...4, using: &random)) : nil,
                    lastCampaigns: campaignChoice == 2 ? Int.random(in: 1...3, using: &random) : nil,
                    link: kind == .clicked && Bool.random(using: &random)
                        ? pick(["https://shop.example/*", "*post", "https://shop.example/a"]) : nil,
                    window: window(), count: count(), includeMachine: (kind == .opened || kind == .clicked) && Bool.random(using: &random)))
        case 10, 11:
            let purchase = Bool.random(using: &random)
            let filters: [PropertyFilter] =
                purchase
                ? (Bool.random(using: &random) ? [PropertyFilter(property: "plan", op: .eq, value: .string("PRO"))] : [])
                : (Bool.random(using: &random) ? [PropertyFilter(property: "path", op: .startsWith, value: .string("/pri"))] : [])
            var aggregate: SegmentRule.Aggregate?
            if purchase && Bool.random(using: &random) {
                let op: SegmentRule.Operator = pick([.gte, .lt, .ne, .eq, .between])
                aggregate = .init(
                    function: pick(SegmentRule.Aggregate.Function.allCases), property: "amount", op: op,
                    value: op == .between ? .numberRange(20, 200) : .number(pick([50, 150, 400])))
            }
            return .event(
                .init(name: purchase ? "purchase" : "page_view", filters: filters, window: window(), count: count(), aggregate: aggregate))
        case 12:
            let mostly = Bool.random(using: &random)
            let device = Bool.random(using: &random)
            return .technographic(
                .init(
                    dimension: device ? .device : .client, value: device ? pick(["mobile", "desktop"]) : pick(["gmail", "Outlook"]),
                    mostly: mostly,
                    window: mostly ? nil : window()))
        case 13:
            // Several company conditions together, as B2B segments have them (checked in one pass).
            let group = (0..<Int.random(in: 2...3, using: &random)).map { _ in company() }
            return Bool.random(using: &random) ? .and(group) : .not(.or(group))
        default:
            return .segment(Int64(Int.random(in: 1...2, using: &random)))
        }
    }
}
