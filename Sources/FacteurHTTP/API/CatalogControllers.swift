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
        group.post { request, context in
            var request = request
            return try JSONResponse.make(try await topics.create(try await request.jsonBody(context: context)), status: .created)
        }
        group.get(":id") { _, context in try JSONResponse.make(try await topics.get(id: try context.parameters.id("id"))) }
        group.patch(":id") { request, context in
            var request = request
            let body = try await request.jsonBody(context: context)
            return try JSONResponse.make(try await topics.update(id: try context.parameters.id("id"), body))
        }
        group.delete(":id") { _, context in
            try await topics.delete(id: try context.parameters.id("id"))
            return Response(status: .noContent)
        }
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
        group.post { request, context in
            var request = request
            return try JSONResponse.make(try await companies.create(try await request.jsonBody(context: context)), status: .created)
        }
        group.get(":id") { _, context in try JSONResponse.make(try await companies.get(id: try context.parameters.id("id"))) }
        group.patch(":id") { request, context in
            var request = request
            let body = try await request.jsonBody(context: context)
            return try JSONResponse.make(try await companies.update(id: try context.parameters.id("id"), body))
        }
        group.delete(":id") { _, context in
            try await companies.delete(id: try context.parameters.id("id"))
            return Response(status: .noContent)
        }
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
        group.post { request, context in
            var request = request
            return try JSONResponse.make(try await templates.create(try await request.jsonBody(context: context)), status: .created)
        }
        group.get(":id") { _, context in try JSONResponse.make(try await templates.get(id: try context.parameters.id("id"))) }
        group.patch(":id") { request, context in
            var request = request
            let body = try await request.jsonBody(context: context)
            return try JSONResponse.make(try await templates.update(id: try context.parameters.id("id"), body))
        }
        group.delete(":id") { _, context in
            try await templates.delete(id: try context.parameters.id("id"))
            return Response(status: .noContent)
        }
    }
}
