import Facteur
import Foundation
import Hummingbird

/// `/api/segments`: CRUD, `POST /api/segments/preview` (a rule's count, first members and SQL
/// before it is saved) and `GET /api/segments/{id}/members`.
struct SegmentController {
    let segments: Segments

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get { _, _ in try JSONResponse.make(["items": try await segments.list()]) }
        group.post { request, context in
            var request = request
            return try JSONResponse.make(try await segments.create(try await request.jsonBody(context: context)), status: .created)
        }
        group.post("preview") { request, context in
            var request = request
            return try JSONResponse.make(try await segments.preview(try await request.jsonBody(context: context)))
        }
        group.get(":id") { _, context in try JSONResponse.make(try await segments.get(id: try context.parameters.id("id"))) }
        group.patch(":id") { request, context in
            var request = request
            let body = try await request.jsonBody(context: context)
            return try JSONResponse.make(try await segments.update(id: try context.parameters.id("id"), body))
        }
        group.delete(":id") { _, context in
            try await segments.delete(id: try context.parameters.id("id"))
            return Response(status: .noContent)
        }
        group.get(":id/members") { request, context in
            let (limit, after) = try request.pageParameters()
            return try JSONResponse.make(try await segments.members(id: try context.parameters.id("id"), after: after, limit: limit))
        }
    }
}
