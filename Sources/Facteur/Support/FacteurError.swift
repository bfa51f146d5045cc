/// A domain error that says what is wrong in words an API client can act on.
///
/// The HTTP layer maps `kind` to a status (422, 404, 409, 413, 400, 403, 429, 503) and shows `message` and `field`;
/// nothing else about the failure leaves the process.
public struct FacteurError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// The request is malformed (not JSON, not CSV, wrong shape): 400.
        case badRequest = "bad_request"
        /// A value is wrong (bad email, unknown field, wrong type): 422.
        case invalid = "invalid"
        /// The thing named does not exist: 404.
        case notFound = "not_found"
        /// It would clash with something that exists (same email): 409.
        case conflict = "conflict"
        /// The body or a field is over its size limit: 413.
        case tooLarge = "too_large"
        /// Refused as it stands: an expired or replayed form, a link for someone else: 403.
        case forbidden = "forbidden"
        /// Too many requests from one client: 429.
        case rateLimited = "rate_limited"
        /// Cannot be done now through no fault of the request (no mail transport): 503.
        case unavailable = "unavailable"
    }

    public var kind: Kind
    public var message: String
    /// The path of the offending input, e.g. `attributes.age` or `[3].email`.
    public var field: String?

    public init(_ kind: Kind, _ message: String, field: String? = nil) {
        self.kind = kind
        self.message = message
        self.field = field
    }

    public static func invalid(_ field: String, _ message: String) -> FacteurError {
        FacteurError(.invalid, message, field: field)
    }

    public static func notFound(_ message: String) -> FacteurError {
        FacteurError(.notFound, message)
    }

    public var description: String {
        field.map { "\($0): \(message)" } ?? message
    }
}
