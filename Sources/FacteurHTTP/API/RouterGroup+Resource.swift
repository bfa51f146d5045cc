import Facteur
import Hummingbird

extension RouterGroup where Context == AppContext {
    /// The four routes every id-addressed resource has, in the API's shape: `POST /` (201),
    /// `GET /:id`, `PATCH /:id` and `DELETE /:id` (204).
    func addResource<Item: Encodable & Sendable>(
        create: @escaping @Sendable (JSONValue) async throws -> Item,
        get: @escaping @Sendable (Int64) async throws -> Item,
        update: @escaping @Sendable (Int64, JSONValue) async throws -> Item,
        delete: @escaping @Sendable (Int64) async throws -> Void
    ) {
        post { request, context in
            var request = request
            return try JSONResponse.make(try await create(try await request.jsonBody(context: context)), status: .created)
        }
        self.get(":id") { _, context in try JSONResponse.make(try await get(try context.parameters.id("id"))) }
        patch(":id") { request, context in
            var request = request
            let body = try await request.jsonBody(context: context)
            return try JSONResponse.make(try await update(try context.parameters.id("id"), body))
        }
        self.delete(":id") { _, context in
            try await delete(try context.parameters.id("id"))
            return Response(status: .noContent)
        }
    }
}
