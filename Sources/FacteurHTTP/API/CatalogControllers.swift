import Facteur
import Foundation
import Hummingbird

/// `/api/fields`: the custom-field registry.
struct FieldController {
    let fields: FieldRegistry

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get { _, _ in try JSONResponse.make(["items": try await fields.list()]) }
        group.post { request, context in
            var request = request
            return try JSONResponse.make(try await fields.create(try await request.jsonBody(context: context)), status: .created)
        }
    }
}

/// `/api/topics`: what subscribers can opt into.
struct TopicController {
    let topics: Topics

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get { _, _ in try JSONResponse.make(["items": try await topics.list()]) }
        group.addResource(
            create: { try await topics.create($0) }, get: { try await topics.get(id: $0) }, update: { try await topics.update(id: $0, $1) },
            delete: { try await topics.delete(id: $0) })
    }
}

/// `/api/companies`: B2B accounts and their people.
struct CompanyController {
    let companies: Companies

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get { request, _ in
            let query = request.uri.queryParameters
            let (limit, after) = try request.pageParameters()
            return try JSONResponse.make(try await companies.list(search: query["q"].map(String.init), after: after, limit: limit))
        }
        group.addResource(
            create: { try await companies.create($0) }, get: { try await companies.get(id: $0) },
            update: { try await companies.update(id: $0, $1) },
            delete: { try await companies.delete(id: $0) })
        group.post(":id/subscribers") { request, context in
            var request = request
            let body = try await request.jsonBody(context: context)
            let linked = try await companies.link(companyID: try context.parameters.id("id"), body)
            return try JSONResponse.make(["linked": linked])
        }
    }
}

/// `/api/templates`: campaign templates, validated when saved.
struct TemplateController {
    let templates: Templates

    func addRoutes(to group: RouterGroup<AppContext>) {
        group.get { _, _ in try JSONResponse.make(["items": try await templates.list()]) }
        group.addResource(
            create: { try await templates.create($0) }, get: { try await templates.get(id: $0) },
            update: { try await templates.update(id: $0, $1) },
            delete: { try await templates.delete(id: $0) })
    }
}
