import Foundation

// The checked values of rule trees: comparison values, dates (absolute or relative to now),
// windows and count bounds, in their JSON form both ways (see `SegmentRule+JSON`).

extension SegmentRule.Value {
    /// Checks `json` for a comparison `op` on a field of `type`.
    init(_ json: JSONValue?, type: SegmentRule.FieldType, op: SegmentRule.Operator, path: String) throws {
        switch op {
        case .exists, .notExists:
            guard json == nil || json == .null else { throw FacteurError.invalid(path, "'\(op.rawValue)' takes no value") }
            self = .none
            return
        default:
            break
        }
        guard let json, json != .null else { throw FacteurError.invalid(path, "is required for '\(op.rawValue)'") }
        switch (type, op) {
        case (.text, .in), (.text, .notIn):
            guard case .array(let items) = json, (1...1000).contains(items.count) else {
                throw FacteurError.invalid(path, "must be a list of 1 to 1000 texts")
            }
            self = .texts(
                try items.enumerated().map { index, item in
                    guard case .string(let text) = item, text.utf8.count <= 1000 else {
                        throw FacteurError.invalid("\(path)[\(index)]", "must be a text of at most 1000 bytes")
                    }
                    try Self.printable(text, path: "\(path)[\(index)]")
                    return text
                })
        case (.number, .in), (.number, .notIn):
            guard case .array(let items) = json, (1...1000).contains(items.count) else {
                throw FacteurError.invalid(path, "must be a list of 1 to 1000 numbers")
            }
            self = .numbers(try items.enumerated().map { try Self.number($1, path: "\(path)[\($0)]") })
        case (.number, .between):
            guard case .array(let bounds) = json, bounds.count == 2 else { throw FacteurError.invalid(path, "must be [low, high]") }
            let low = try Self.number(bounds[0], path: "\(path)[0]")
            let high = try Self.number(bounds[1], path: "\(path)[1]")
            guard low <= high else { throw FacteurError.invalid(path, "low must not be above high") }
            self = .numberRange(low, high)
        case (.date, .between):
            guard case .array(let bounds) = json, bounds.count == 2 else { throw FacteurError.invalid(path, "must be [from, to]") }
            self = .dateRange(try Self.date(bounds[0], path: "\(path)[0]"), try Self.date(bounds[1], path: "\(path)[1]"))
        case (.text, _):
            guard case .string(let text) = json, text.utf8.count <= 1000 else {
                throw FacteurError.invalid(path, "must be a text of at most 1000 bytes, got \(json.typeName)")
            }
            if [.contains, .startsWith, .endsWith].contains(op), text.isEmpty {
                throw FacteurError.invalid(path, "must not be empty for '\(op.rawValue)'")
            }
            try Self.printable(text, path: path)
            self = .text(text)
        case (.number, _):
            self = .number(try Self.number(json, path: path))
        case (.boolean, _):
            guard case .bool(let flag) = json else { throw FacteurError.invalid(path, "must be true or false, got \(json.typeName)") }
            self = .bool(flag)
        case (.date, _):
            self = .date(try Self.date(json, path: path))
        }
    }

    /// No control characters (NUL cannot even be stored): a value is something a person typed.
    private static func printable(_ text: String, path: String) throws {
        guard !text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) else {
            throw FacteurError.invalid(path, "contains a control character")
        }
    }

    private static func number(_ json: JSONValue, path: String) throws -> Double {
        guard case .number(let number) = json, number.isFinite else {
            throw FacteurError.invalid(path, "must be a number, got \(json.typeName)")
        }
        return number
    }

    /// `2026-05-01`, `2026-05-01T12:00:00Z`, or relative to now: `-30d`, `+2w` (`h`, `d`, `w`, `y`).
    static func date(_ json: JSONValue, path: String) throws -> SegmentRule.DateValue {
        guard case .string(let text) = json else { throw FacteurError.invalid(path, "must be a date text, got \(json.typeName)") }
        if let first = text.first, first == "-" || first == "+", let seconds = SegmentRule.Window.seconds(String(text.dropFirst())) {
            return .relative(seconds: first == "-" ? -seconds : seconds, text: text)
        }
        guard let date = ISODates.parse(text) else {
            throw FacteurError.invalid(path, "must be a date such as 2026-05-01, 2026-05-01T12:00:00Z or -30d, got '\(text)'")
        }
        return .absolute(date)
    }

    var json: JSONValue {
        switch self {
        case .none: .null
        case .text(let text): .string(text)
        case .texts(let texts): .array(texts.map(JSONValue.string))
        case .number(let number): .number(number)
        case .numbers(let numbers): .array(numbers.map(JSONValue.number))
        case .bool(let flag): .bool(flag)
        case .date(let date): date.json
        case .dateRange(let from, let to): .array([from.json, to.json])
        case .numberRange(let low, let high): .array([.number(low), .number(high)])
        }
    }
}

extension SegmentRule.DateValue {
    var json: JSONValue {
        switch self {
        case .absolute(let date): .string(Self.format(date))
        case .relative(_, let text): .string(text)
        }
    }

    /// ISO 8601, with the fraction of a second when there is one (it was checked with it).
    static func format(_ date: Date) -> String {
        date.timeIntervalSince1970.rounded() == date.timeIntervalSince1970
            ? ISODates.format(date) : date.formatted(Date.ISO8601FormatStyle(includingFractionalSeconds: true))
    }

    /// The instant it stands for when evaluated at `now`.
    public func resolve(now: Date) -> Date {
        switch self {
        case .absolute(let date): date
        case .relative(let seconds, _): now.addingTimeInterval(TimeInterval(seconds))
        }
    }
}

extension SegmentRule.Window {
    init?(_ json: JSONValue?, path: String) throws {
        switch json {
        case nil, .null?:
            return nil
        case .string(let text)?:
            guard let seconds = Self.seconds(text), seconds > 0 else {
                throw FacteurError.invalid(path, "must be a duration such as 24h, 30d, 2w or 1y, or {\"from\": …, \"to\": …}")
            }
            self = .last(seconds: seconds, text: text)
        case .object?:
            let object = try JSONObject(json!, path: path + ".")
            try object.rejectUnknownKeys(["from", "to"])
            let from = try object.date("from")
            let to = try object.date("to")
            guard from != nil || to != nil else { throw FacteurError.invalid(path, "give from, to or both") }
            if let from, let to, from > to { throw FacteurError.invalid(path + ".to", "must not be before from") }
            self = .between(from: from, to: to)
        case let other?:
            throw FacteurError.invalid(path, "must be a duration such as 30d or {\"from\": …, \"to\": …}, got \(other.typeName)")
        }
    }

    /// `30d` → seconds; `h`, `d`, `w`, `y` (365 days); at most 100 years.
    static func seconds(_ text: String) -> Int64? {
        let digits = text.dropLast()
        guard let unit = text.last, !digits.isEmpty, digits.allSatisfy({ $0.isASCII && $0.isNumber }), let amount = Int64(digits),
            amount <= 100 * 8_760
        else { return nil }
        let scale: Int64
        switch unit {
        case "h": scale = 3600
        case "d": scale = 86_400
        case "w": scale = 604_800
        case "y": scale = 31_536_000
        default: return nil
        }
        let seconds = amount * scale
        return seconds <= 100 * 31_536_000 ? seconds : nil
    }

    var json: JSONValue {
        switch self {
        case .last(_, let text): return .string(text)
        case .between(let from, let to):
            var object: [String: JSONValue] = [:]
            if let from { object["from"] = .string(SegmentRule.DateValue.format(from)) }
            if let to { object["to"] = .string(SegmentRule.DateValue.format(to)) }
            return .object(object)
        }
    }
}

extension SegmentRule.CountBound {
    init(_ json: JSONValue?, path: String) throws {
        guard let json, json != .null else {
            self = .atLeastOne
            return
        }
        let object = try JSONObject(json, path: path + ".")
        try object.rejectUnknownKeys(["eq", "gt", "gte", "lt", "lte", "between"])
        guard !object.values.isEmpty else { throw FacteurError.invalid(path, "give eq, gt, gte, lt, lte or between") }
        let range: ClosedRange<Int64> = 0...1_000_000
        var bound = SegmentRule.CountBound()
        if let eq = try object.int("eq", range: range) { bound = .init(min: Int(eq), max: Int(eq)) }
        if let gt = try object.int("gt", range: range) { bound.min = Swift.max(bound.min ?? 0, Int(gt) + 1) }
        if let gte = try object.int("gte", range: range) { bound.min = Swift.max(bound.min ?? 0, Int(gte)) }
        if let lt = try object.int("lt", range: 1...1_000_000) { bound.max = Swift.min(bound.max ?? Int.max, Int(lt) - 1) }
        if let lte = try object.int("lte", range: range) { bound.max = Swift.min(bound.max ?? Int.max, Int(lte)) }
        if let between = object.values["between"] {
            guard case .array(let items) = between, items.count == 2, case .number(let low) = items[0], case .number(let high) = items[1],
                let low = Int(exactly: low), let high = Int(exactly: high), low >= 0, low <= high
            else { throw FacteurError.invalid(path + ".between", "must be [low, high], whole numbers from 0") }
            bound.min = Swift.max(bound.min ?? 0, low)
            bound.max = Swift.min(bound.max ?? Int.max, high)
        }
        if let low = bound.min, let high = bound.max, low > high { throw FacteurError.invalid(path, "no count can satisfy it") }
        self = bound
    }

    var json: JSONValue? {
        if self == .atLeastOne { return nil }
        if let min, let max, min == max { return .object(["eq": .number(Double(min))]) }
        var object: [String: JSONValue] = [:]
        if let min { object["gte"] = .number(Double(min)) }
        if let max { object["lte"] = .number(Double(max)) }
        return .object(object)
    }
}
