/// An error from the Postgres library: from the server (with its SQLSTATE), the connection, or decoding.
///
/// Shaped like postgres-nio's `PSQLError`: one struct with a nested code, so callers can switch
/// on `code` and still read every detail the server sent.
public struct PostgresError: Error, Sendable, CustomStringConvertible {
    /// What kind of failure this is.
    public struct Code: Sendable, Hashable, CustomStringConvertible {
        enum Base: String, Sendable { case connection, server, decoding, encoding, poolTimeout, poolClosed, copy }
        let base: Base
        /// The connection could not be made, or broke during a call.
        public static let connection = Code(base: .connection)
        /// The server answered with an error (see `sqlState`).
        public static let server = Code(base: .server)
        /// A column could not be decoded into the requested Swift type.
        public static let decoding = Code(base: .decoding)
        /// A value could not be sent (e.g. a NUL byte in text).
        public static let encoding = Code(base: .encoding)
        /// No connection became free before the pool's acquire timeout.
        public static let poolTimeout = Code(base: .poolTimeout)
        /// The pool was closed.
        public static let poolClosed = Code(base: .poolClosed)
        /// A COPY could not be started or finished.
        public static let copy = Code(base: .copy)
        public var description: String { base.rawValue }
    }

    public var code: Code
    public var message: String
    /// The five-character SQLSTATE the server sent, e.g. `23505` for a unique violation.
    public var sqlState: String?
    public var detail: String?
    public var hint: String?
    public var constraint: String?
    public var table: String?
    public var column: String?
    /// The SQL text that failed, for logs; never shown to end users.
    public var query: String?

    public init(
        code: Code, message: String, sqlState: String? = nil, detail: String? = nil, hint: String? = nil,
        constraint: String? = nil, table: String? = nil, column: String? = nil, query: String? = nil
    ) {
        self.code = code
        self.message = message
        self.sqlState = sqlState
        self.detail = detail
        self.hint = hint
        self.constraint = constraint
        self.table = table
        self.column = column
        self.query = query
    }

    /// `23505`: a UNIQUE or PRIMARY KEY constraint refused the row.
    public var isUniqueViolation: Bool { sqlState == "23505" }
    /// `23503`: a FOREIGN KEY constraint refused the row.
    public var isForeignKeyViolation: Bool { sqlState == "23503" }
    /// `23514`: a CHECK constraint refused the row.
    public var isCheckViolation: Bool { sqlState == "23514" }
    /// Class 22 (data exception) or 23 (integrity): the input was bad, not the server.
    public var isDataError: Bool { sqlState.map { $0.hasPrefix("22") || $0.hasPrefix("23") } ?? false }

    public var description: String {
        var text = "Postgres \(code)"
        if let sqlState { text += " [\(sqlState)]" }
        text += ": \(message)"
        if let detail { text += " (\(detail))" }
        return text
    }
}
