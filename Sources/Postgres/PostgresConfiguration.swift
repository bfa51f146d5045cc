/// Where and how to connect: a libpq connection URL (`postgres://user:pass@host:port/db?sslmode=…`)
/// or key/value string (`host=/run/postgresql dbname=facteur`), plus per-connection settings.
public struct PostgresConfiguration: Sendable, Hashable {
    /// The URL or key/value string, handed to libpq as written.
    public var connectionString: String
    /// Overrides the database named in `connectionString` (tests give each suite its own copy).
    public var database: String?
    /// Shown in `pg_stat_activity`.
    public var applicationName: String
    /// Seconds libpq waits for a connection.
    public var connectTimeout: Int

    public init(connectionString: String, database: String? = nil, applicationName: String = "facteur", connectTimeout: Int = 10) {
        self.connectionString = connectionString
        self.database = database
        self.applicationName = applicationName
        self.connectTimeout = connectTimeout
    }

    /// A configuration for a server listening on a unix socket in `socketDirectory`.
    public static func socket(directory: String, port: Int = 5432, user: String, database: String) -> PostgresConfiguration {
        PostgresConfiguration(
            connectionString: "host='\(escape(directory))' port=\(port) user='\(escape(user))' dbname='\(escape(database))'")
    }

    /// The same server, another database.
    public func with(database: String) -> PostgresConfiguration {
        var copy = self
        copy.database = database
        return copy
    }

    /// Keyword/value pairs for `PQconnectdbParams` with `expand_dbname`: later keys override the string.
    var parameters: [(String, String)] {
        var pairs: [(String, String)] = [("dbname", connectionString)]
        if let database { pairs.append(("dbname", database)) }
        pairs.append(("application_name", applicationName))
        pairs.append(("connect_timeout", String(connectTimeout)))
        // Every session speaks UTC and ISO dates, so timestamps parse without guessing; NOTICEs
        // (e.g. "already exists, skipping") are not printed to stderr.
        pairs.append(("options", "-c TimeZone=UTC -c DateStyle=ISO -c client_encoding=UTF8 -c client_min_messages=warning"))
        return pairs
    }

    private static func escape(_ value: String) -> String {
        value.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'")
    }
}
