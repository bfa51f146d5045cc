import Facteur
import Foundation
import Hummingbird

/// `/api/segments`: CRUD, `POST /api/segments/preview` (a rule's count, first members and SQL
/// before it is saved), `GET /api/segments/{id}/members` (JSON pages, or the whole list as CSV
/// with `Accept: text/csv` or at `members.csv`) and `POST /api/segments/{id}/refresh` (a static
/// segment's new snapshot).
struct SegmentController {
    let segments: Segments
    let exporter: SubscriberExporter

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get { _, _ in try JSONResponse.make(["items": try await segments.list()]) }
        group.post("preview") { request, context in
            var request = request
            return try JSONResponse.make(try await segments.preview(try await request.jsonBody(context: context)))
        }
        group.addResource(
            create: { try await segments.create($0) }, get: { try await segments.get(id: $0) },
            update: { try await segments.update(id: $0, $1) }, delete: { try await segments.delete(id: $0) })
        group.get(":id/members") { request, context in
            let id = try context.parameters.id("id")
            if request.headers[.accept]?.lowercased().hasPrefix("text/csv") == true { return try await csv(id: id, request) }
            let (limit, after) = try request.pageParameters()
            return try JSONResponse.make(try await segments.members(id: id, after: after, limit: limit))
        }
        group.get(":id/members.csv") { request, context in try await csv(id: try context.parameters.id("id"), request) }
        group.post(":id/refresh") { _, context in try JSONResponse.make(try await segments.refresh(id: try context.parameters.id("id"))) }
    }

    /// Every member, in the columns of the subscriber export (so the file re-imports as is). The
    /// segment is evaluated once, before the response starts: a bad id is still a clean 404.
    private func csv(id: Int64, _ request: Request) async throws -> Response {
        let ids = try await segments.memberIDs(id: id)
        let exporter = self.exporter
        let spreadsheet = request.wantsSpreadsheetCSV
        return CSVAttachment.response(filename: "segment-\(id).csv") { write in
            _ = try await exporter.export(only: ids, forSpreadsheets: spreadsheet, write: write)
        }
    }
}
