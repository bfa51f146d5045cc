import Foundation

/// The JSON form of a rule tree, both ways. Parsing checks everything — field names against the
/// schema, operators against the field's type, values against both — and names the place of the
/// first problem as a path into the tree: `and[2].or[0].value`.
///
/// Leaves:
/// - `{"field": "country", "op": "eq", "value": "FR"}`; dates absolute (`2026-01-01`) or relative
///   to now (`"-30d"`; `h`, `d`, `w`, `y`);
/// - `{"company": "employees", "op": "between", "value": [5, 15]}`, or a key of the company's own
///   attributes, `{"company": "attributes.tier", "op": "eq", "value": "gold"}` (typed by the
///   value: number, boolean, else text, or a date under an ordering operator);
/// - `{"topic": "newsletter", "state": "subscribed" | "unsubscribed" | "never"}`;
/// - `{"activity": "opened", "within": "30d", "campaign": 12 | "last_campaigns": 3,
///   "link": "https://shop.example/*", "count": {"gte": 3}, "machine": true}`;
/// - `{"event": "page_view", "where": [property filters], "within": "7d", "count": {"gte": 5},
///   "aggregate": {"fn": "sum", "property": "amount", "op": "gte", "value": 1000}}`;
/// - `{"device": "mobile", "mostly": true}` or `{"client": "Gmail", "within": "90d"}`;
/// - `{"segment": 7}`.
///
/// `within` is a duration back from now (`"30d"`) or `{"from": "2026-01-01", "to": "2026-02-01"}`;
/// `count` takes `eq`, `gt`, `gte`, `lt`, `lte` or `between` (default: at least once).
extension SegmentRule {
    public init(json: JSONValue, schema: SegmentSchema) throws {
        var leaves = 0
        self = try Self.parse(json, path: "", depth: 1, schema: schema, leaves: &leaves)
    }

    private static let kinds = ["and", "or", "not", "field", "company", "topic", "activity", "event", "device", "client", "segment"]

    private static func key(_ path: String, _ key: String) -> String { path.isEmpty ? key : "\(path).\(key)" }

    private static func parse(_ json: JSONValue, path: String, depth: Int, schema: SegmentSchema, leaves: inout Int) throws -> SegmentRule {
        let here = path.isEmpty ? "rule" : path
        guard depth <= SegmentLimits.maxDepth else {
            throw FacteurError.invalid(here, "nests deeper than \(SegmentLimits.maxDepth) levels")
        }
        guard case .object(let members) = json else {
            throw FacteurError.invalid(here, "must be an object: {\"and\": […]}, {\"or\": […]}, {\"not\": {…}} or a condition")
        }
        let present = kinds.filter { members[$0] != nil }
        guard present.count == 1, let kind = present.first else {
            throw FacteurError.invalid(
                here,
                present.isEmpty
                    ? "names no condition: use one of \(kinds.joined(separator: ", "))"
                    : "mixes \(present.joined(separator: " and ")): one condition per object, combine them with and/or")
        }
        switch kind {
        case "and", "or":
            guard members.count == 1 else { throw FacteurError.invalid(here, "'\(kind)' takes a list and nothing beside it") }
            guard case .array(let items) = members[kind], !items.isEmpty else {
                throw FacteurError.invalid(key(path, kind), "must be a non-empty list of rules")
            }
            let children = try items.enumerated().map { index, item in
                try parse(item, path: "\(key(path, kind))[\(index)]", depth: depth + 1, schema: schema, leaves: &leaves)
            }
            // A group of one is its one rule: the tree has one form for one meaning, which the
            // text syntax (where parentheses make no node) reads back.
            if children.count == 1 { return children[0] }
            return kind == "and" ? .and(children) : .or(children)
        case "not":
            guard members.count == 1 else { throw FacteurError.invalid(here, "'not' takes one rule and nothing beside it") }
            return .not(try parse(members["not"]!, path: key(path, "not"), depth: depth + 1, schema: schema, leaves: &leaves))
        default:
            leaves += 1
            guard leaves <= SegmentLimits.maxLeaves else {
                throw FacteurError.invalid(here, "the rule has more than \(SegmentLimits.maxLeaves) conditions")
            }
            return try leaf(kind, JSONObject(json, path: path.isEmpty ? "" : path + "."), schema: schema)
        }
    }

    /// `company attributes.tier = "gold"`: a key of the company's `attributes`.
    static let companyAttributePrefix = "attributes."

    /// The type a condition on an untyped attribute compares as: numbers and booleans by their
    /// value, strings as text, except under an ordering (`gt` … `between`), where they are dates
    /// (text has no order here). Reading the type back from the JSON gives the same tree.
    static func attributeType(op: JSONValue?, value: JSONValue?) -> SegmentRule.FieldType {
        switch value {
        case .number?: return .number
        case .bool?: return .boolean
        case .array(let items)? where items.contains(where: { if case .number = $0 { true } else { false } }): return .number
        default: break
        }
        if case .string(let op)? = op, ["gt", "gte", "lt", "lte", "between"].contains(op) { return .date }
        return .text
    }

    private static func leaf(_ kind: String, _ object: JSONObject, schema: SegmentSchema) throws -> SegmentRule {
        let at = object.path
        switch kind {
        case "field", "company":
            try object.rejectUnknownKeys([kind, "op", "value"])
            let name = try object.string(kind, required: true, maxLength: 100)!
            let known = kind == "field" ? schema.fields : schema.companyFields
            if kind == "company", name.hasPrefix(Self.companyAttributePrefix) {
                // A company's own attributes (free-form JSON): the type is read from the condition.
                let key = String(name.dropFirst(Self.companyAttributePrefix.count))
                guard SegmentCompiler.isFieldKey(key) else {
                    throw FacteurError.invalid(
                        at + kind, "'\(key)' cannot name a company attribute here: use lowercase letters, digits and _ (at most 63)")
                }
                let type = Self.attributeType(op: object.values["op"], value: object.values["value"])
                return .company(try Condition(name: name, type: type, object: object))
            }
            guard let type = known[name] else {
                let hint = kind == "field" ? "; register custom fields with POST /api/fields" : ""
                throw FacteurError.invalid(
                    at + kind,
                    "unknown \(kind == "field" ? "field" : "company field") '\(name)'; known: \(known.keys.sorted().joined(separator: ", "))\(hint)"
                )
            }
            let condition = try Condition(name: name, type: type, object: object)
            return kind == "field" ? .field(condition) : .company(condition)
        case "topic":
            try object.rejectUnknownKeys(["topic", "state"])
            let key = try object.string("topic", required: true, maxLength: 63)!
            let raw = try object.string("state") ?? TopicState.subscribed.rawValue
            guard let state = TopicState(rawValue: raw) else {
                throw FacteurError.invalid(at + "state", "must be subscribed, unsubscribed or never")
            }
            return .topic(key: key, state: state)
        case "activity":
            return .activity(try Activity(object))
        case "event":
            return .event(try Event(object))
        case "device", "client":
            try object.rejectUnknownKeys([kind, "mostly", "within"])
            let value = try object.string(kind, required: true, maxLength: 100)!
            if kind == "device", !["mobile", "tablet", "desktop", "other"].contains(value) {
                throw FacteurError.invalid(at + "device", "must be mobile, tablet, desktop or other")
            }
            guard !value.isEmpty else { throw FacteurError.invalid(at + kind, "must not be empty") }
            let mostly = try object.bool("mostly") ?? false
            let window = try Window(object.values["within"], path: at + "within")
            if mostly, window != nil {
                throw FacteurError.invalid(at + "within", "does not apply with mostly: the most used one is counted over all time")
            }
            return .technographic(
                Technographic(dimension: kind == "device" ? .device : .client, value: value, mostly: mostly, window: window))
        default:
            try object.rejectUnknownKeys(["segment"])
            return .segment(try object.int("segment", required: true, range: 1...Int64.max)!)
        }
    }

    /// The canonical JSON form: what `init(json:schema:)` reads back to an equal tree.
    public var json: JSONValue {
        switch self {
        case .and(let children): return .object(["and": .array(children.map(\.json))])
        case .or(let children): return .object(["or": .array(children.map(\.json))])
        case .not(let child): return .object(["not": child.json])
        case .field(let condition): return condition.json(key: "field")
        case .company(let condition): return condition.json(key: "company")
        case .topic(let key, let state): return .object(["topic": .string(key), "state": .string(state.rawValue)])
        case .activity(let activity): return activity.json
        case .event(let event): return event.json
        case .technographic(let technographic):
            var object: [String: JSONValue] = [technographic.dimension.rawValue: .string(technographic.value)]
            if technographic.mostly { object["mostly"] = .bool(true) }
            if let window = technographic.window { object["within"] = window.json }
            return .object(object)
        case .segment(let id): return .object(["segment": .number(Double(id))])
        }
    }
}

extension SegmentRule.Condition {
    init(name: String, type: SegmentRule.FieldType, object: JSONObject) throws {
        let at = object.path
        let allowed = SegmentRule.Operator.allowed(for: type)
        let raw = try object.string("op", required: true, maxLength: 20)!
        guard let op = SegmentRule.Operator(rawValue: raw) else {
            throw FacteurError.invalid(at + "op", "unknown operator '\(raw)'; one of \(allowed.map(\.rawValue).joined(separator: ", "))")
        }
        guard allowed.contains(op) else {
            throw FacteurError.invalid(
                at + "op",
                "'\(raw)' does not apply to the \(type.rawValue) field '\(name)'; use \(allowed.map(\.rawValue).joined(separator: ", "))")
        }
        self.init(
            field: name, type: type, op: op, value: try SegmentRule.Value(object.values["value"], type: type, op: op, path: at + "value"))
    }

    func json(key: String) -> JSONValue {
        var object: [String: JSONValue] = [key: .string(field), "op": .string(op.rawValue)]
        if value != .none { object["value"] = value.json }
        return .object(object)
    }
}

extension SegmentRule.Activity {
    init(_ object: JSONObject) throws {
        let at = object.path
        try object.rejectUnknownKeys(["activity", "campaign", "last_campaigns", "link", "within", "count", "machine"])
        let raw = try object.string("activity", required: true, maxLength: 20)!
        guard let kind = Kind(rawValue: raw) else {
            throw FacteurError.invalid(at + "activity", "must be one of \(Kind.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        self.init(kind: kind)
        campaign = try object.int("campaign", range: 1...Int64.max)
        lastCampaigns = try object.int("last_campaigns", range: 1...100).map(Int.init)
        if campaign != nil, lastCampaigns != nil {
            throw FacteurError.invalid(at + "last_campaigns", "give campaign or last_campaigns, not both")
        }
        link = try object.string("link", maxLength: 2000)
        if link != nil, kind != .clicked { throw FacteurError.invalid(at + "link", "applies to clicked only") }
        window = try SegmentRule.Window(object.values["within"], path: at + "within")
        count = try SegmentRule.CountBound(object.values["count"], path: at + "count")
        includeMachine = try object.bool("machine") ?? false
        if includeMachine, kind != .opened, kind != .clicked {
            throw FacteurError.invalid(at + "machine", "applies to opened and clicked only")
        }
    }

    var json: JSONValue {
        var object: [String: JSONValue] = ["activity": .string(kind.rawValue)]
        if let campaign { object["campaign"] = .number(Double(campaign)) }
        if let lastCampaigns { object["last_campaigns"] = .number(Double(lastCampaigns)) }
        if let link { object["link"] = .string(link) }
        if let window { object["within"] = window.json }
        if let count = count.json { object["count"] = count }
        if includeMachine { object["machine"] = .bool(true) }
        return .object(object)
    }
}

extension SegmentRule.Event {
    init(_ object: JSONObject) throws {
        let at = object.path
        try object.rejectUnknownKeys(["event", "where", "within", "count", "aggregate"])
        let name = try object.string("event", required: true, maxLength: 100)!
        guard !name.isEmpty else { throw FacteurError.invalid(at + "event", "must not be empty") }
        self.init(name: name)
        if object.values["where"] != nil { filters = try PropertyFilter.list(object.values["where"], path: at + "where") }
        window = try SegmentRule.Window(object.values["within"], path: at + "within")
        count = try SegmentRule.CountBound(object.values["count"], path: at + "count")
        if let raw = object.values["aggregate"] {
            let aggregate = try JSONObject(raw, path: at + "aggregate.")
            try aggregate.rejectUnknownKeys(["fn", "property", "op", "value"])
            let fn = try aggregate.string("fn", required: true, maxLength: 10)!
            guard let function = SegmentRule.Aggregate.Function(rawValue: fn) else {
                throw FacteurError.invalid(at + "aggregate.fn", "must be sum, avg, min or max")
            }
            let property = try aggregate.string("property", required: true, maxLength: 200)!
            guard !property.isEmpty else { throw FacteurError.invalid(at + "aggregate.property", "must not be empty") }
            let opText = try aggregate.string("op", required: true, maxLength: 20)!
            let allowed: [SegmentRule.Operator] = [.eq, .ne, .gt, .gte, .lt, .lte, .between]
            guard let op = SegmentRule.Operator(rawValue: opText), allowed.contains(op) else {
                throw FacteurError.invalid(at + "aggregate.op", "must be one of \(allowed.map(\.rawValue).joined(separator: ", "))")
            }
            self.aggregate = SegmentRule.Aggregate(
                function: function, property: property, op: op,
                value: try SegmentRule.Value(aggregate.values["value"], type: .number, op: op, path: at + "aggregate.value"))
        }
    }

    var json: JSONValue {
        var object: [String: JSONValue] = ["event": .string(name)]
        if !filters.isEmpty { object["where"] = .array(filters.map(\.json)) }
        if let window { object["within"] = window.json }
        if let count = count.json { object["count"] = count }
        if let aggregate {
            object["aggregate"] = .object([
                "fn": .string(aggregate.function.rawValue), "property": .string(aggregate.property), "op": .string(aggregate.op.rawValue),
                "value": aggregate.value.json,
            ])
        }
        return .object(object)
    }
}
