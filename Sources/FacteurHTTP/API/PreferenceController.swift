import Facteur
import Foundation
import Hummingbird

/// `GET|PUT /api/subscribers/{ref}/preferences` (topics, frequency, pause, language, as the
/// preference center shows them) and `GET /api/exports/consent.csv?from=…&to=…`.
struct PreferenceController {
    let preferences: Preferences
    let subscribers: Subscribers
    let consent: ConsentExporter

    func addRoutes(subscribers group: RouterGroup<AppContext>, exports: RouterGroup<AppContext>) {
        group.get(":ref/preferences", use: get)
        group.put(":ref/preferences", use: set)
        exports.get("consent.csv", use: export)
    }

    @Sendable func get(_ request: Request, context: AppContext) async throws -> Response {
        let id = try await subscribers.resolve(try context.parameters.reference())
        let explicit = request.uri.queryParameters["lang"].map(String.init)
        return try JSONResponse.make(try await preferences.state(subscriber: id) { explicit ?? $0 }.state)
    }

    @Sendable func set(_ request: Request, context: AppContext) async throws -> Response {
        var request = request
        let body = try await request.jsonBody(context: context)
        let id = try await subscribers.resolve(try context.parameters.reference())
        let change = try PreferenceChange(json: body)
        try await preferences.apply(subscriber: id, change, context: request.consent(source: "api"))
        return try JSONResponse.make(try await preferences.state(subscriber: id) { $0 }.state)
    }

    @Sendable func export(_ request: Request, context: AppContext) async throws -> Response {
        let query = request.uri.queryParameters
        let range = try ConsentExporter.range(from: query["from"].map(String.init), to: query["to"].map(String.init))
        let spreadsheet = request.wantsSpreadsheetCSV
        let exporter = consent
        return CSVAttachment.response(filename: "consent.csv") { write in
            try await exporter.export(from: range.from, to: range.to, forSpreadsheets: spreadsheet, write: write)
        }
    }
}
