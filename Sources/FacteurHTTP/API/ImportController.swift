import Facteur
import Foundation
import Hummingbird
import NIOCore

/// `POST /api/imports` (CSV in, report out) and `GET /api/exports/subscribers.csv`.
struct ImportController {
    let importer: SubscriberImporter
    let exporter: SubscriberExporter
    /// Largest CSV accepted over HTTP; bigger files go through `facteur import`.
    let maxImportBytes: Int

    func addRoutes(imports: RouterGroup<AppContext>, exports: RouterGroup<AppContext>) {
        imports.post(use: runImport)
        exports.get("subscribers.csv", use: export)
    }

    @Sendable func runImport(_ request: Request, context: AppContext) async throws -> Response {
        let type = request.headers[.contentType]?.lowercased() ?? ""
        guard type.hasPrefix("text/csv") || type.hasPrefix("application/csv") else {
            throw APIError(.unsupportedMediaType, code: "unsupported_media_type", message: "send the file as text/csv")
        }
        let topics = request.uri.queryParameters["topic"].map { String($0).split(separator: ",").map(String.init) } ?? []
        let limit = maxImportBytes
        let body = BodyChunks(iterator: request.body.makeAsyncIterator(), limit: limit)
        let report = try await importer.run(topics: topics) { try await body.next() }
        return try JSONResponse.make(report)
    }

    @Sendable func export(_ request: Request, context: AppContext) async throws -> Response {
        let exporter = self.exporter
        let spreadsheet = request.wantsSpreadsheetCSV
        return CSVAttachment.response(filename: "subscribers.csv") { write in
            _ = try await exporter.export(forSpreadsheets: spreadsheet, write: write)
        }
    }
}

/// A CSV file streamed as it is produced (`text/csv`, an attachment): exports of any size in
/// flat memory.
enum CSVAttachment {
    static func response(
        filename: String, _ produce: @escaping @Sendable (_ write: ([UInt8]) async throws -> Void) async throws -> Void
    ) -> Response {
        var headers = HTTPFields()
        headers[.contentType] = "text/csv; charset=utf-8"
        headers[.contentDisposition] = "attachment; filename=\"\(filename)\""
        return Response(
            status: .ok, headers: headers,
            body: ResponseBody { writer in
                try await produce { bytes in try await writer.write(ByteBuffer(bytes: bytes)) }
                try await writer.finish(nil)
            })
    }
}

extension Request {
    /// `?spreadsheet=true` (or `1`): cells a spreadsheet would run as formulas are neutralized.
    var wantsSpreadsheetCSV: Bool {
        uri.queryParameters["spreadsheet"].map { $0 == "true" || $0 == "1" } ?? false
    }
}

/// Pulls a request body chunk by chunk, refusing more than `limit` bytes.
final class BodyChunks: @unchecked Sendable {
    // Used by the single task running the import.
    private var iterator: RequestBody.AsyncIterator
    private let limit: Int
    private var total = 0

    init(iterator: RequestBody.AsyncIterator, limit: Int) {
        self.iterator = iterator
        self.limit = limit
    }

    func next() async throws -> [UInt8]? {
        guard let buffer = try await iterator.next() else { return nil }
        total += buffer.readableBytes
        guard total <= limit else {
            throw FacteurError(.tooLarge, "the CSV is larger than \(limit) bytes; use facteur import for bigger files")
        }
        return Array(buffer.readableBytesView)
    }
}
