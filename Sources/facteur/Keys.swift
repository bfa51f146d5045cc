import ArgumentParser
import Facteur
import Foundation
import Logging

/// `facteur keys create|list|revoke`: admin API keys.
struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Manage admin API keys.", subcommands: [Create.self, List.self, Revoke.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a key and print it once (only its SHA-256 is stored).")
        @Option(help: "A name that says who uses the key.") var name: String

        func run() async throws {
            try await withDatabase { database in
                let key = try await APIKeys(database: database).create(name: name)
                print(key.secret)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List keys (never their secrets).")

        func run() async throws {
            try await withDatabase { database in
                for row in try await database.pool.query(database.sql("api-keys-list")) {
                    let revoked = try row.decode(Date?.self, "revoked_at") == nil ? "" : "  (revoked)"
                    print(
                        "\(try row.decode(Int64.self, "id"))\t\(try row.decode(String.self, "prefix"))…\t\(try row.decode(String.self, "name"))\(revoked)"
                    )
                }
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Revoke a key by id.")
        @Argument var id: Int64

        func run() async throws {
            try await withDatabase { database in
                guard try await database.pool.query(database.sql("api-key-revoke", id)).first != nil else {
                    throw ValidationErrorText("no active key with id \(id)")
                }
                print("Revoked key \(id).")
            }
        }
    }
}

/// Opens the database from the environment for a one-off command.
func withDatabase(_ body: (Database) async throws -> Void) async throws {
    let environment = Environment()
    environment.bootstrapLogging()
    let database = try Database(
        configuration: try environment.databaseConfiguration(), home: environment.home, maxConnections: 2, logger: Logger(label: "facteur"))
    do {
        try await body(database)
        await database.pool.close()
    } catch {
        await database.pool.close()
        throw error
    }
}
