import Foundation
import Mail

/// A validated create or update request for one subscriber.
public struct SubscriberInput: Sendable {
    public var email: String?
    public var name: String?
    public var status: Subscriber.Status?
    public var locale: String?
    /// Outer nil: not sent; inner nil: clear.
    public var timezone: String??
    public var setAttributes: [String: JSONValue] = [:]
    public var removeAttributes: [String] = []
    public var companyID: Int64??
    public var topics: [String]?

    static let keys: Set<String> = ["email", "name", "status", "locale", "timezone", "attributes", "company_id", "topics"]

    /// Validates a JSON object against the field registry. `path` prefixes error fields (`[3].`).
    public init(_ object: JSONObject, fields: [String: Field], requireEmail: Bool) throws {
        try object.rejectUnknownKeys(Self.keys)
        let path = object.path
        if let raw = try object.string("email", required: requireEmail, maxLength: 320) {
            do {
                email = try EmailAddress(raw).value
            } catch {
                throw FacteurError.invalid(path + "email", "'\(raw)' is not a valid address: \(error.message)")
            }
        }
        name = try object.string("name", maxLength: 200)
        if let raw = try object.string("status") {
            guard let value = Subscriber.Status(rawValue: raw) else {
                throw FacteurError.invalid(
                    path + "status", "must be one of \(Subscriber.Status.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            status = value
        }
        if let raw = try object.string("locale", maxLength: 35) {
            locale = try Self.validLocale(raw, field: path + "locale")
        }
        if object.has("timezone") {
            if let raw = try object.string("timezone", maxLength: 64) {
                guard TimeZone(identifier: raw) != nil else {
                    throw FacteurError.invalid(path + "timezone", "'\(raw)' is not an IANA time zone such as Europe/Paris")
                }
                timezone = .some(raw)
            } else {
                timezone = .some(nil)
            }
        }
        if object.has("company_id") {
            companyID = .some(try object.int("company_id", range: 1...Int64.max))
        }
        if let attributes = try object.object("attributes") {
            for (key, value) in attributes.sorted(by: { $0.key < $1.key }) {
                guard let field = fields[key] else {
                    throw FacteurError.invalid(
                        "\(path)attributes.\(key)", "unknown field '\(key)'; register it first with POST /api/fields")
                }
                let checked = try field.validate(value, path: "\(path)attributes.\(key)")
                if checked == .null { removeAttributes.append(key) } else { setAttributes[key] = checked }
            }
        }
        topics = try object.stringArray("topics", maxCount: 200)
    }

    /// A language tag such as `en`, `fr` or `fr-CA`, normalized to lowercase language + uppercase region.
    static func validLocale(_ raw: String, field: String) throws -> String {
        guard raw.range(of: "^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$", options: .regularExpression) != nil else {
            throw FacteurError.invalid(field, "'\(raw)' is not a language tag such as en, fr or fr-CA")
        }
        var parts = raw.split(separator: "-").map(String.init)
        parts[0] = parts[0].lowercased()
        if parts.count > 1, parts[1].count == 2 { parts[1] = parts[1].uppercased() }
        return parts.joined(separator: "-")
    }

    /// The attribute changes as JSON for the `attributes || $x` merge.
    var attributesJSON: String { JSONValue.object(setAttributes).jsonText }

    /// Whether the write touches custom attributes (attribute scoring rules then look again).
    var changesAttributes: Bool { !setAttributes.isEmpty || !removeAttributes.isEmpty }
}
