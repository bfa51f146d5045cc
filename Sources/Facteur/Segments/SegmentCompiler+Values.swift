import Foundation
import Postgres

/// The values conditions compare (subscriber fields, custom fields, company fields and
/// attributes) and the comparisons themselves, with the missing-value rule.
extension SegmentCompiler {
    /// The SQL value of a subscriber field, NULL when missing.
    func fieldValue(_ condition: SegmentRule.Condition) throws -> SQL {
        switch condition.field {
        case "email", "name", "status", "locale", "timezone", "frequency":
            return "s.\(unsafeRaw: condition.field)"
        case "domain": return "split_part(s.email, '@', 2)"
        case "created_at", "confirmed_at", "paused_until", "score": return "s.\(unsafeRaw: condition.field)"
        default:
            guard Self.isFieldKey(condition.field) else { throw FacteurError.invalid("field", "'\(condition.field)' is not a field key") }
            return "\(unsafeRaw: Self.attribute(condition.field, condition.type, row: "s."))"
        }
    }

    /// A custom field's typed value, NULL when absent or of another JSON type. The key (from the
    /// registry: lowercase letters, digits and `_`) is written into the SQL rather than bound,
    /// so that the expression is the very one `statistics(for:)` describes, and PostgreSQL
    /// estimates a condition on it from what it knows of the values.
    static func attribute(_ key: String, _ type: SegmentRule.FieldType, row: String) -> String {
        let json = "\(row)attributes -> '\(key)'"
        let text = "\(row)attributes ->> '\(key)'"
        switch type {
        case .text: return "(CASE WHEN jsonb_typeof(\(json)) = 'string' THEN \(text) END)"
        case .number: return "(CASE WHEN jsonb_typeof(\(json)) = 'number' THEN (\(text))::float8 END)"
        case .boolean: return "(CASE WHEN jsonb_typeof(\(json)) = 'boolean' THEN (\(text))::boolean END)"
        case .date: return "(CASE WHEN (\(text)) ~ '^[0-9]{4}-[0-9]{2}-[0-9]{2}T' THEN (\(text))::timestamptz END)"
        }
    }

    static func isFieldKey(_ key: String) -> Bool {
        key.range(of: "^[a-z][a-z0-9_]{0,62}$", options: .regularExpression) != nil
    }

    /// `CREATE STATISTICS` for what the compiler compares of a custom field (text: lowered), so
    /// that PostgreSQL knows how common each value is. Without it, "plan = trial" is guessed at
    /// half a percent of the people, and a plan built on that guess probes events a hundred
    /// thousand times over.
    public static func statistics(for field: Field) -> String? {
        guard isFieldKey(field.key), let type = SegmentRule.FieldType(rawValue: field.type.rawValue) else { return nil }
        let value = attribute(field.key, type, row: "")
        let compared = type == .text ? "lower(\(value))" : value
        return "CREATE STATISTICS IF NOT EXISTS facteur_field_\(field.key) ON (\(compared)) FROM subscribers"
    }

    func companyValue(_ condition: SegmentRule.Condition) -> SQL {
        if condition.field.hasPrefix(SegmentRule.companyAttributePrefix) {
            let key = String(condition.field.dropFirst(SegmentRule.companyAttributePrefix.count))
            guard Self.isFieldKey(key) else { return "NULL" }
            // Present at all (any JSON type but null) for exists; else the typed value.
            if condition.op == .exists || condition.op == .notExists { return "NULLIF(c.attributes -> \(key), 'null'::jsonb)" }
            return "\(unsafeRaw: Self.attribute(key, condition.type, row: "c."))"
        }
        switch condition.field {
        case "employees": return "c.employees::float8"
        case "revenue": return "c.revenue::float8"
        default: return "c.\(unsafeRaw: condition.field)"
        }
    }

    /// Whether a condition holds when the value is missing.
    static func whenMissing(_ op: SegmentRule.Operator) -> Bool {
        [.ne, .notIn, .notExists].contains(op)
    }

    /// Whether `value op bound` holds (or, when `negated`, does not), with the missing-value
    /// rule; text without regard to case. The result may be NULL where the answer is false: it
    /// is only ever combined with AND and OR, never under a NOT (the compiler pushes those down
    /// to here). Written plainly, without COALESCE, so PostgreSQL estimates it from its
    /// statistics. `nullable`: the value can be missing; `caseless`: it is lowercase already;
    /// `missing`: what a missing value gives, when not the operator's rule.
    static func compare(
        _ value: SQL, _ condition: SegmentRule.Condition, now: Date, negated: Bool = false, nullable: Bool = true,
        caseless: Bool = false, missing: Bool? = nil
    ) -> SQL {
        switch condition.op {
        case .exists: return negated ? "(\(value) IS NULL)" : "(\(value) IS NOT NULL)"
        case .notExists: return negated ? "(\(value) IS NOT NULL)" : "(\(value) IS NULL)"
        default: break
        }
        let text = condition.type == .text
        let left: SQL = text && !caseless ? "lower(\(value))" : value
        func bound(_ value: SegmentRule.Value) -> SQL { bind(value, lowered: text, now: now) }
        // NULL exactly when the value is missing (bounds never are).
        let comparison: SQL
        switch (condition.op, condition.value) {
        case (.eq, let value): comparison = "\(left) = \(bound(value))"
        case (.ne, let value): comparison = "\(left) <> \(bound(value))"
        case (.gt, let value): comparison = "\(left) > \(bound(value))"
        case (.gte, let value): comparison = "\(left) >= \(bound(value))"
        case (.lt, let value): comparison = "\(left) < \(bound(value))"
        case (.lte, let value): comparison = "\(left) <= \(bound(value))"
        case (.in, .texts(let items)) where !items.isEmpty:
            comparison = "\(left) IN (\(SQL.joined(items.map { "lower(\($0))" }, separator: ", ")))"
        case (.notIn, .texts(let items)) where !items.isEmpty:
            comparison = "\(left) NOT IN (\(SQL.joined(items.map { "lower(\($0))" }, separator: ", ")))"
        case (.in, .numbers(let items)): comparison = "\(left) = ANY(\(items))"
        case (.notIn, .numbers(let items)): comparison = "\(left) <> ALL(\(items))"
        case (.contains, .text(let part)): comparison = "strpos(\(left), lower(\(part))) > 0"
        case (.startsWith, .text(let part)): comparison = "starts_with(\(left), lower(\(part)))"
        case (.endsWith, .text(let part)): comparison = "right(\(left), char_length(lower(\(part)))) = lower(\(part))"
        case (.between, .numberRange(let low, let high)): comparison = "\(left) BETWEEN \(low) AND \(high)"
        case (.between, .dateRange(let from, let to)): comparison = "\(left) BETWEEN \(from.resolve(now: now)) AND \(to.resolve(now: now))"
        default: comparison = "false"
        }
        let expression: SQL = negated ? "(NOT \(comparison))" : comparison
        let missingMatches = (missing ?? whenMissing(condition.op)) != negated
        return nullable && missingMatches ? "(\(expression) OR \(value) IS NULL)" : expression
    }

    /// A bound value; text is lowered in SQL, like the column it meets (one notion of case).
    private static func bind(_ value: SegmentRule.Value, lowered: Bool, now: Date) -> SQL {
        switch value {
        case .text(let text): lowered ? "lower(\(text))" : "\(text)"
        case .number(let number): "\(number)"
        case .bool(let flag): "\(flag)"
        case .date(let date): "\(date.resolve(now: now))"
        default: "NULL"
        }
    }
}
