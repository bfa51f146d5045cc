import CLibPQ

/// The rows a statement returned. Owns the libpq result and frees it when the last row goes.
public final class PostgresResult: @unchecked Sendable {
    // Immutable after init; libpq results are read-only, so concurrent reads are safe.
    let handle: OpaquePointer?
    /// Number of rows returned.
    public let count: Int
    /// Column names in order.
    public let columns: [String]
    let columnTypes: [PostgresOID]
    private let columnIndex: [String: Int]
    /// Rows affected by INSERT/UPDATE/DELETE/COPY (0 for other statements).
    public let affectedRows: Int

    init(handle: OpaquePointer?) {
        self.handle = handle
        guard let handle else {
            count = 0
            columns = []
            columnTypes = []
            columnIndex = [:]
            affectedRows = 0
            return
        }
        count = Int(PQntuples(handle))
        let fieldCount = Int(PQnfields(handle))
        var names: [String] = []
        var types: [PostgresOID] = []
        var index: [String: Int] = [:]
        for column in 0..<fieldCount {
            // COPY results describe columns without names.
            let name = PQfname(handle, Int32(column)).map { String(cString: $0) } ?? ""
            names.append(name)
            types.append(PQftype(handle, Int32(column)))
            if index[name] == nil { index[name] = column }
        }
        columns = names
        columnTypes = types
        columnIndex = index
        affectedRows = Int(String(cString: PQcmdTuples(handle))) ?? 0
    }

    deinit {
        if let handle { PQclear(handle) }
    }

    func index(of column: String) -> Int? { columnIndex[column] }

    /// The raw text of one cell, or nil for NULL; valid while the result lives.
    func withCell<T>(row: Int, column: Int, _ body: (UnsafeRawBufferPointer?) throws -> T) rethrows -> T {
        let r = Int32(row)
        let c = Int32(column)
        if PQgetisnull(handle, r, c) == 1 { return try body(nil) }
        let length = Int(PQgetlength(handle, r, c))
        let pointer = PQgetvalue(handle, r, c)
        return try body(UnsafeRawBufferPointer(start: pointer, count: length))
    }
}

/// The rows of a result, as a random-access collection.
public struct PostgresRows: RandomAccessCollection, Sendable {
    public let result: PostgresResult
    public var startIndex: Int { 0 }
    public var endIndex: Int { result.count }
    public subscript(position: Int) -> PostgresRow { PostgresRow(result: result, index: position) }
    /// Rows affected by INSERT/UPDATE/DELETE/COPY.
    public var affectedRows: Int { result.affectedRows }
    public var columns: [String] { result.columns }
}

/// One row; decode columns by name or position.
public struct PostgresRow: Sendable {
    let result: PostgresResult
    let index: Int

    /// Decodes a column by position. Optional types read NULL as nil; others throw on NULL.
    public func decode<Value: PostgresDecodable>(_ type: Value.Type = Value.self, at column: Int) throws -> Value {
        guard column >= 0, column < result.columns.count else {
            throw PostgresError(code: .decoding, message: "no column at index \(column) (the row has \(result.columns.count))")
        }
        let oid = result.columnTypes[column]
        return try result.withCell(row: index, column: column) { cell in
            do {
                guard let cell else { return try Value.decodeNull() }
                return try Value.decode(text: cell, type: oid)
            } catch let mismatch as PostgresDecodingFailure {
                throw PostgresError(
                    code: .decoding,
                    message:
                        "column '\(result.columns[column])' (\(PostgresType.name(of: oid))) cannot be decoded as \(Value.self): \(mismatch.reason)",
                    column: result.columns[column])
            }
        }
    }

    /// Decodes a column by name.
    public func decode<Value: PostgresDecodable>(_ type: Value.Type = Value.self, _ column: String) throws -> Value {
        guard let position = result.index(of: column) else {
            throw PostgresError(
                code: .decoding, message: "no column named '\(column)' (columns: \(result.columns.joined(separator: ", ")))")
        }
        return try decode(Value.self, at: position)
    }

    /// Whether a column is NULL.
    public func isNull(_ column: String) -> Bool {
        guard let position = result.index(of: column) else { return true }
        return result.withCell(row: index, column: position) { $0 == nil }
    }
}
