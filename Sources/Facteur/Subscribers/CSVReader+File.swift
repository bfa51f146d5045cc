import Foundation

// MARK: - Reading a file

extension CSVReader {
    /// Reads the file at `path` in chunks of `chunkSize` bytes and yields each record or error
    /// in order. Errors do not stop the iteration (see "Error recovery"), except a read error,
    /// which is yielded once as `.readFailed` and ends it.
    ///
    ///     for result in try CSVReader.records(atPath: path) {
    ///         switch result {
    ///         case .success(let record): ...
    ///         case .failure(let error): log("\(error)")   // "line 9: ..."
    ///         }
    ///     }
    ///
    /// Throws only if the file cannot be opened.
    public static func records(
        atPath path: String,
        chunkSize: Int = 256 * 1024,
        maxFieldBytes: Int = 64 * 1024,
        maxFields: Int = 1000
    ) throws -> CSVFileRecords {
        let handle = try FileHandle(forReadingFrom: URL(fileURLWithPath: path))
        return CSVFileRecords(
            handle: handle,
            chunkSize: chunkSize,
            reader: CSVReader(maxFieldBytes: maxFieldBytes, maxFields: maxFields)
        )
    }
}

/// The records of a file, see `CSVReader.records(atPath:)`. Single pass: iterate it once.
public struct CSVFileRecords: Sequence, IteratorProtocol {
    public typealias Element = Result<CSVRecord, CSVError>

    private let handle: FileHandle
    private let chunkSize: Int
    private var reader: CSVReader
    private var closed = false

    init(handle: FileHandle, chunkSize: Int, reader: CSVReader) {
        precondition(chunkSize > 0, "chunkSize must be positive")
        self.handle = handle
        self.chunkSize = chunkSize
        self.reader = reader
    }

    public mutating func next() -> Result<CSVRecord, CSVError>? {
        while true {
            do throws(CSVError) {
                if let record = try reader.nextRecord() { return .success(record) }
            } catch {
                return .failure(error)
            }
            if reader.isAtEnd || closed {
                close()
                return nil
            }
            do {
                if let data = try handle.read(upToCount: chunkSize), !data.isEmpty {
                    reader.feed(data)
                } else {
                    reader.finish()
                }
            } catch {
                close()
                let line = reader.currentLine
                return .failure(CSVError(line: line, reason: .readFailed("\(error)"), resumeLine: line))
            }
        }
    }

    private mutating func close() {
        guard !closed else { return }
        closed = true
        try? handle.close()
    }
}
