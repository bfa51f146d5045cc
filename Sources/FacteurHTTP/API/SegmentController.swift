import Facteur
import Foundation
import Hummingbird

/// `/api/segments`: CRUD, `POST /api/segments/preview` (a rule's count, first members and SQL
/// before it is saved) and `GET /api/segments/{id}/members`.
struct SegmentController {
    let segments: Segments

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
            let (limit, after) = try request.pageParameters()
            return try JSONResponse.make(try await segments.members(id: try context.parameters.id("id"), after: after, limit: limit))
        }
    }
}
