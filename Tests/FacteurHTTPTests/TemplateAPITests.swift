import Facteur
import Foundation
import Hummingbird
import Testing

@Suite("Templates API")
struct TemplateAPITests {
    @Test func a_valid_template_is_stored_with_its_layout() async throws {
        try await withAPI { api in
            _ = try await api.send(.post, "/api/fields", json: #"{"key": "plan", "type": "text"}"#)
            let created = try await api.send(
                .post, "/api/templates",
                json:
                    #"{"name": "Monthly", "subject": "{{first_name}}{{^first_name}}Hello{{/first_name}}, your {{plan}} news", "html": "<h1>News</h1>\n<p>{{company.name}}</p>", "layout": "default"}"#
            )
            #expect(created.status == .created, "\(created.text)")
            #expect(try created.value("layout") == .string("default"))
            guard case .number(let id)? = try created.value("id") else { return }
            let patched = try await api.send(
                .patch, "/api/templates/\(Int(id))", json: #"{"text": "Plain {{email}}\nbye", "layout": null}"#)
            #expect(patched.status == .ok, "\(patched.text)")
            #expect(try patched.value("text") == .string("Plain {{email}}\nbye"))
            #expect(try patched.value("layout") == nil || (try patched.value("layout")) == .null)
        }
    }

    @Test func template_errors_are_caught_at_save_with_line_and_column_and_nothing_is_stored() async throws {
        try await withAPI { api in
            let unknown = try await api.send(
                .post, "/api/templates", json: #"{"name": "T", "subject": "Hi", "html": "<p>\n{{frist_name}}</p>"}"#)
            #expect(unknown.status == .unprocessableContent)
            #expect(try unknown.error("field") == "html")
            #expect(try unknown.error("message") == "html line 2, column 1: unknown variable 'frist_name' (did you mean 'first_name'?)")
            let syntax = try await api.send(.post, "/api/templates", json: #"{"name": "T", "subject": "Hi {{#x}}", "html": "ok"}"#)
            #expect(syntax.status == .unprocessableContent)
            #expect(try syntax.error("message")?.contains("never closed") == true)
            let layout = try await api.send(
                .post, "/api/templates", json: #"{"name": "T", "subject": "Hi", "html": "ok", "layout": "../../etc/passwd"}"#)
            #expect(layout.status == .unprocessableContent)
            #expect(try await api.count("templates") == 0)
            let valid = try await api.send(.post, "/api/templates", json: #"{"name": "T", "subject": "Hi", "html": "ok"}"#)
            guard case .number(let id)? = try valid.value("id") else { return }
            let badPatch = try await api.send(.patch, "/api/templates/\(Int(id))", json: #"{"html": "{{nope}}"}"#)
            #expect(badPatch.status == .unprocessableContent)
            #expect(try await api.send(.get, "/api/templates/\(Int(id))").value("html") == .string("ok"))
        }
    }
}
