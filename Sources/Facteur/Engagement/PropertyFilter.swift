import Foundation

/// A condition on one property of an event (or one custom attribute of a subscriber), e.g.
/// `{"property": "path", "op": "eq", "value": "/pricing"}`; a list of them means all must hold.
///
/// The database evaluates stored filters with `facteur_filter_match` (migration 0004); `matches`
/// here is the same semantics in Swift, used to check that function on random data and as the
/// reference for segment leaves. The rules:
/// - `property` is a key, or a dotted path into nested objects and arrays (`cart.total`, `items.0.sku`;
///   negative indexes count from the end);
/// - text comparisons (`eq`, `in`, `contains`, `starts_with`, `ends_with`) ignore case and apply
///   to string properties only; `eq`/`in` compare numbers and booleans by value and JSON type;
/// - `gt`, `gte`, `lt`, `lte`, `between` apply to number properties only;
/// - `ne` and `not_in` are the negations of `eq` and `in`: a missing property is "not equal";
/// - `exists`: present and not null; `not_exists`: its negation.
///
/// Text is compared by Unicode scalars after lowercasing, as PostgreSQL's `lower()` does in a UTF-8
/// database (a database with the C locale lowercases ASCII only).
public struct PropertyFilter: Sendable, Equatable {
    public enum Operator: String, Sendable, CaseIterable {
        case eq, ne, `in`
        case notIn = "not_in"
        case contains
        case startsWith = "starts_with"
        case endsWith = "ends_with"
        case gt, gte, lt, lte, between, exists
        case notExists = "not_exists"
    }

    public var property: String
    public var op: Operator
    public var value: JSONValue

    public init(property: String, op: Operator, value: JSONValue = .null) {
        self.property = property
        self.op = op
        self.value = value
    }

    /// Parses and validates one filter; errors name `path` (e.g. `condition.where[2].value`).
    public init(json: JSONValue, path: String) throws {
        let object = try JSONObject(json, path: path + ".")
        try object.rejectUnknownKeys(["property", "op", "value"])
        guard let property = try object.string("property", required: true, maxLength: 200), !property.isEmpty,
            !property.split(separator: ".", omittingEmptySubsequences: false).contains(where: \.isEmpty)
        else { throw FacteurError.invalid(path + ".property", "must be a property name, or a dotted path like cart.total") }
        let rawOp = try object.string("op", required: true) ?? ""
        guard let op = Operator(rawValue: rawOp) else {
            throw FacteurError.invalid(
                path + ".op", "unknown operator '\(rawOp)'; use one of \(Operator.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        let value = object.values["value"] ?? .null
        let valuePath = path + ".value"
        if let nul = value.pathOfNUL(prefix: valuePath) { throw FacteurError.invalid(nul, "contains a NUL character") }
        switch op {
        case .exists, .notExists:
            guard value == .null else { throw FacteurError.invalid(valuePath, "\(op.rawValue) takes no value") }
        case .eq, .ne:
            guard Self.isScalar(value) else { throw FacteurError.invalid(valuePath, "must be a string, a number or a boolean") }
        case .in, .notIn:
            guard case .array(let items) = value, !items.isEmpty, items.count <= 1000, items.allSatisfy(Self.isScalar) else {
                throw FacteurError.invalid(valuePath, "must be a list of 1 to 1000 strings, numbers or booleans")
            }
        case .contains, .startsWith, .endsWith:
            guard case .string(let text) = value, !text.isEmpty else { throw FacteurError.invalid(valuePath, "must be a non-empty string") }
        case .gt, .gte, .lt, .lte:
            guard case .number = value else { throw FacteurError.invalid(valuePath, "must be a number") }
        case .between:
            guard case .array(let bounds) = value, bounds.count == 2, case .number(let low) = bounds[0], case .number(let high) = bounds[1]
            else { throw FacteurError.invalid(valuePath, "must be [low, high], two numbers") }
            guard low <= high else { throw FacteurError.invalid(valuePath, "low must not be above high") }
        }
        self.init(property: property, op: op, value: value)
    }

    /// Parses a list of filters (all must hold).
    public static func list(_ json: JSONValue?, path: String, maxCount: Int = 20) throws -> [PropertyFilter] {
        guard let json, json != .null else { return [] }
        guard case .array(let items) = json else { throw FacteurError.invalid(path, "must be a list of property filters") }
        guard items.count <= maxCount else { throw FacteurError.invalid(path, "has more than \(maxCount) filters") }
        return try items.enumerated().map { try PropertyFilter(json: $1, path: "\(path)[\($0)]") }
    }

    public var json: JSONValue {
        var object: [String: JSONValue] = ["property": .string(property), "op": .string(op.rawValue)]
        if value != .null { object["value"] = value }
        return .object(object)
    }

    /// Whether `properties` (a JSON object) satisfies this filter.
    public func matches(_ properties: JSONValue) -> Bool {
        var actual: JSONValue? = properties
        // As PostgreSQL's #> walks a path: keys into objects, indexes (negative from the end) into arrays.
        for key in property.split(separator: ".") {
            switch actual {
            case .object(let members)?:
                actual = members[String(key)]
            case .array(let items)?:
                guard let index = Int(key), let position = Optional(index < 0 ? items.count + index : index),
                    items.indices.contains(position)
                else {
                    actual = nil
                    break
                }
                actual = items[position]
            default:
                actual = nil
            }
            if actual == nil { break }
        }
        switch op {
        case .exists: return actual != nil && actual != .null
        case .notExists: return actual == nil || actual == .null
        case .ne: return !PropertyFilter(property: property, op: .eq, value: value).matches(properties)
        case .notIn: return !PropertyFilter(property: property, op: .in, value: value).matches(properties)
        case .in:
            guard case .array(let items) = value else { return false }
            return items.contains { PropertyFilter(property: property, op: .eq, value: $0).matches(properties) }
        case .eq:
            switch (actual, value) {
            case (.string(let a)?, .string(let b)): return Self.scalars(a) == Self.scalars(b)
            case (.number(let a)?, .number(let b)): return a == b
            case (.bool(let a)?, .bool(let b)): return a == b
            default: return false
            }
        case .contains, .startsWith, .endsWith:
            guard case .string(let text)? = actual, case .string(let needle) = value else { return false }
            let (a, b) = (Self.scalars(text), Self.scalars(needle))
            switch op {
            case .startsWith: return a.starts(with: b)
            case .endsWith: return a.reversed().starts(with: b.reversed())
            default: return a.count >= b.count && (0...(a.count - b.count)).contains { a[$0..<$0 + b.count].elementsEqual(b) }
            }
        case .gt, .gte, .lt, .lte:
            guard case .number(let a)? = actual, case .number(let b) = value else { return false }
            return op == .gt ? a > b : op == .gte ? a >= b : op == .lt ? a < b : a <= b
        case .between:
            guard case .number(let a)? = actual, case .array(let bounds) = value, bounds.count == 2,
                case .number(let low) = bounds[0], case .number(let high) = bounds[1]
            else { return false }
            return low <= a && a <= high
        }
    }

    /// Lowercased, as code points (no canonical equivalence, like the database).
    private static func scalars(_ text: String) -> [Unicode.Scalar] { Array(text.lowercased().unicodeScalars) }

    private static func isScalar(_ value: JSONValue) -> Bool {
        switch value {
        case .string, .number, .bool: true
        default: false
        }
    }
}

extension Array where Element == PropertyFilter {
    /// All hold (an empty list always does).
    public func matches(_ properties: JSONValue) -> Bool { allSatisfy { $0.matches(properties) } }

    public var json: JSONValue { .array(map(\.json)) }
}
