import CLibPQ
import Foundation

/// A blocking libpq connection. Every method blocks its thread, so it is only ever called from the
/// pool's dedicated threads (never from Swift's cooperative pool), and by one caller at a time.
final class RawConnection: @unchecked Sendable {
    private let handle: OpaquePointer
    /// Statement text + parameter types → name of the server-side prepared statement.
    private var prepared: [PreparedKey: String] = [:]
    private static let maxPrepared = 512

    private struct PreparedKey: Hashable {
        let text: String
        let types: [PostgresOID]
    }

    init(configuration: PostgresConfiguration) throws {
        let pairs = configuration.parameters
        let keywords = pairs.map { strdup($0.0) }
        let values = pairs.map { strdup($0.1) }
        defer {
            keywords.forEach { free($0) }
            values.forEach { free($0) }
        }
        var keywordPointers = keywords.map { UnsafePointer($0) } + [nil]
        var valuePointers = values.map { UnsafePointer($0) } + [nil]
        guard let connection = PQconnectdbParams(&keywordPointers, &valuePointers, 1) else {
            throw PostgresError(code: .connection, message: "libpq could not allocate a connection")
        }
        guard PQstatus(connection) == CONNECTION_OK else {
            let message = String(cString: PQerrorMessage(connection)).trimmingCharacters(in: .whitespacesAndNewlines)
            PQfinish(connection)
            throw PostgresError(code: .connection, message: message)
        }
        handle = connection
    }

    deinit {
        PQfinish(handle)
    }

    /// The connection is usable as far as libpq knows.
    var isOK: Bool { PQstatus(handle) == CONNECTION_OK }

    /// Inside a transaction block (or a failed one).
    var inTransaction: Bool { PQtransactionStatus(handle) != PQTRANS_IDLE }

    /// The server process id, for `pg_terminate_backend` in tests and logs.
    var backendPID: Int32 { PQbackendPID(handle) }

    /// A non-blocking check for an idle connection: reads whatever the server sent while we were away
    /// (a FATAL from `pg_terminate_backend`, EOF after a restart) and reports whether it still works.
    func isHealthyWhileIdle() -> Bool {
        // A terminated backend sends a FATAL error and then closes: read until the socket is quiet,
        // so libpq sees the end of the stream and marks the connection bad.
        for _ in 0..<4 {
            guard isOK else { return false }
            var descriptor = pollfd(fd: PQsocket(handle), events: Int16(POLLIN), revents: 0)
            guard poll(&descriptor, 1, 0) > 0 else { break }
            if PQconsumeInput(handle) == 0 { return false }
            // Unsolicited notifications on a pooled connection have no reader: drop them.
            while let notification = PQnotifies(handle) { PQfreemem(notification) }
            // Anything else unsolicited (an error from the server) means the session is ending.
            if descriptor.revents & Int16(POLLHUP | POLLERR) != 0 { return false }
        }
        return isOK && PQtransactionStatus(handle) == PQTRANS_IDLE
    }

    /// Runs one statement with its binds and returns its rows.
    func execute(_ sql: SQL) throws -> PostgresResult {
        var buffer: [CChar] = []
        var offsets: [Int?] = []
        for bind in sql.binds {
            guard let value = bind.value else {
                offsets.append(nil)
                continue
            }
            if value.utf8.contains(0) {
                throw PostgresError(
                    code: .encoding, message: "a text parameter contains a NUL byte, which PostgreSQL cannot store", query: sql.text)
            }
            offsets.append(buffer.count)
            buffer.append(contentsOf: value.utf8.map { CChar(bitPattern: $0) })
            buffer.append(0)
        }
        let types = sql.binds.map(\.type)
        let key = PreparedKey(text: sql.text, types: types)
        let name = try preparedName(for: key)
        let result: OpaquePointer? = buffer.withUnsafeBufferPointer { base in
            let pointers: [UnsafePointer<CChar>?] = offsets.map { offset in offset.map { base.baseAddress! + $0 } }
            if let name {
                return PQexecPrepared(handle, name, Int32(pointers.count), pointers, nil, nil, 0)
            }
            return PQexecParams(handle, sql.text, Int32(pointers.count), types, pointers, nil, nil, 0)
        }
        return try check(result, query: sql.text)
    }

    /// Runs one or more statements with no binds (the simple query protocol), e.g. a migration file.
    func executeScript(_ text: String) throws {
        let result = PQexec(handle, text)
        // A script returns the last statement's result; errors stop it.
        _ = try check(result, query: String(text.prefix(200)))
    }

    private func preparedName(for key: PreparedKey) throws -> String? {
        if let name = prepared[key] { return name }
        guard prepared.count < Self.maxPrepared else { return nil }
        let name = "facteur_\(prepared.count)"
        let result = PQprepare(handle, name, key.text, Int32(key.types.count), key.types)
        _ = try check(result, query: key.text)
        prepared[key] = name
        return name
    }

    /// Turns a libpq result into rows or a `PostgresError`, freeing it on error.
    func check(_ result: OpaquePointer?, query: String) throws -> PostgresResult {
        guard let result else {
            throw connectionError(query: query)
        }
        switch PQresultStatus(result) {
        case PGRES_COMMAND_OK, PGRES_TUPLES_OK, PGRES_EMPTY_QUERY, PGRES_COPY_IN, PGRES_COPY_OUT:
            return PostgresResult(handle: result)
        default:
            let error = serverError(result, query: query)
            PQclear(result)
            throw error
        }
    }

    func connectionError(query: String?) -> PostgresError {
        let message = String(cString: PQerrorMessage(handle)).trimmingCharacters(in: .whitespacesAndNewlines)
        return PostgresError(code: .connection, message: message.isEmpty ? "connection lost" : message, query: query)
    }

    private func serverError(_ result: OpaquePointer, query: String) -> PostgresError {
        func field(_ code: Character) -> String? {
            guard let pointer = PQresultErrorField(result, Int32(code.asciiValue!)) else { return nil }
            return String(cString: pointer)
        }
        let sqlState = field("C")
        let message = field("M") ?? String(cString: PQresultErrorMessage(result)).trimmingCharacters(in: .whitespacesAndNewlines)
        // Class 08 and 57P0x (admin shutdown, crash) mean the connection is gone, not the query bad.
        let lost = !isOK || sqlState.map { $0.hasPrefix("08") || $0.hasPrefix("57P0") } ?? false
        return PostgresError(
            code: lost ? .connection : .server, message: message, sqlState: sqlState, detail: field("D"), hint: field("H"),
            constraint: field("n"), table: field("t"), column: field("c"), query: query)
    }

    // MARK: COPY FROM STDIN

    func startCopy(_ sql: SQL) throws {
        // COPY takes no parameters and cannot be prepared; it leaves the connection in COPY_IN.
        guard sql.binds.isEmpty else {
            throw PostgresError(code: .copy, message: "COPY statements cannot take parameters", query: sql.text)
        }
        let result = try check(PQexec(handle, sql.text), query: sql.text)
        guard PQresultStatus(result.handle) == PGRES_COPY_IN else {
            throw PostgresError(code: .copy, message: "the statement did not start a COPY FROM STDIN", query: sql.text)
        }
    }

    func putCopyData(_ bytes: [UInt8]) throws {
        let status = bytes.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { PQputCopyData(handle, $0.baseAddress, Int32($0.count)) }
        }
        guard status == 1 else { throw connectionError(query: "COPY") }
    }

    /// Ends the COPY (with an error message to abort it) and returns the rows copied.
    func endCopy(abortMessage: String?) throws -> Int {
        guard PQputCopyEnd(handle, abortMessage) == 1 else { throw connectionError(query: "COPY") }
        var copied = 0
        var firstError: Error?
        while let result = PQgetResult(handle) {
            do {
                copied = try check(result, query: "COPY").affectedRows
            } catch {
                if firstError == nil { firstError = error }
            }
        }
        if let firstError { throw firstError }
        return copied
    }

    // MARK: LISTEN/NOTIFY

    var socket: Int32 { PQsocket(handle) }

    /// Reads available input and returns pending notifications; throws if the connection broke.
    func drainNotifications() throws -> [PostgresNotification] {
        guard PQconsumeInput(handle) == 1 else { throw connectionError(query: nil) }
        var notifications: [PostgresNotification] = []
        while let notify = PQnotifies(handle) {
            let entry = notify.pointee
            notifications.append(
                PostgresNotification(
                    channel: String(cString: entry.relname), payload: String(cString: entry.extra), backendPID: entry.be_pid))
            PQfreemem(notify)
        }
        return notifications
    }
}

/// A message sent with `NOTIFY channel, 'payload'`.
public struct PostgresNotification: Sendable, Hashable {
    public var channel: String
    public var payload: String
    public var backendPID: Int32
}
