import NIOPosix

/// A connection checked out of a `PostgresPool`, usable from async code.
///
/// Each call runs the blocking libpq work on the pool's dedicated threads. Use it only inside the
/// `withConnection` closure that handed it to you, and from one task at a time.
public struct PostgresConnection: Sendable {
    let raw: RawConnection
    let threads: NIOThreadPool

    /// Runs a statement and returns its rows.
    @discardableResult
    public func query(_ sql: SQL) async throws -> PostgresRows {
        let raw = self.raw
        return PostgresRows(result: try await threads.runIfActive { try raw.execute(sql) })
    }

    /// Runs a statement and returns the number of rows it changed.
    @discardableResult
    public func execute(_ sql: SQL) async throws -> Int {
        try await query(sql).affectedRows
    }

    /// Runs several statements with no parameters in one round trip (migrations, DDL).
    public func executeScript(_ text: String) async throws {
        let raw = self.raw
        try await threads.runIfActive { try raw.executeScript(text) }
    }

    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws.
    public func withTransaction<Result: Sendable>(
        _ body: (PostgresConnection) async throws -> Result
    ) async throws -> Result {
        try await execute("BEGIN")
        do {
            let result = try await body(self)
            try await execute("COMMIT")
            return result
        } catch {
            if raw.isOK { _ = try? await execute("ROLLBACK") }
            throw error
        }
    }

    /// Streams rows into `COPY … FROM STDIN`. `body` writes bytes in the COPY's format; the rows
    /// are committed with the statement (or the enclosing transaction). Throwing aborts the COPY.
    /// - Returns: the number of rows copied.
    @discardableResult
    public func copyFrom(_ sql: SQL, _ body: (PostgresCopyWriter) async throws -> Void) async throws -> Int {
        let raw = self.raw
        try await threads.runIfActive { try raw.startCopy(sql) }
        let writer = PostgresCopyWriter(connection: self)
        do {
            try await body(writer)
            try await writer.flush()
        } catch {
            _ = try? await threads.runIfActive { try raw.endCopy(abortMessage: "aborted by client: \(error)") }
            throw error
        }
        return try await threads.runIfActive { try raw.endCopy(abortMessage: nil) }
    }

    /// The server process serving this connection.
    public var backendPID: Int32 { raw.backendPID }
}

/// Buffers bytes for `COPY FROM STDIN` and sends them in large chunks.
public final class PostgresCopyWriter: @unchecked Sendable {
    // Used by the one task running the COPY closure.
    private let connection: PostgresConnection
    private var buffer: [UInt8] = []
    private let chunkSize = 256 * 1024

    init(connection: PostgresConnection) {
        self.connection = connection
        buffer.reserveCapacity(chunkSize + 4096)
    }

    /// Appends bytes; sends a chunk when the buffer is full.
    public func write(_ bytes: some Sequence<UInt8>) async throws {
        buffer.append(contentsOf: bytes)
        if buffer.count >= chunkSize { try await flush() }
    }

    /// Appends a string's UTF-8 bytes.
    public func write(_ text: String) async throws {
        try await write(text.utf8)
    }

    func flush() async throws {
        guard !buffer.isEmpty else { return }
        let chunk = buffer
        buffer.removeAll(keepingCapacity: true)
        let raw = connection.raw
        try await connection.threads.runIfActive { try raw.putCopyData(chunk) }
    }
}
