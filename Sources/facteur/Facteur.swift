import ArgumentParser

/// The `facteur` command: the server, the embedded dev mode and the operator tools.
@main
struct FacteurCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "facteur",
        abstract: "Self-hosted email campaigns and preference center.",
        subcommands: [
            Serve.self, Worker.self, Dev.self, Migrate.self, Keys.self, Import.self, Export.self, CampaignCommand.self, BouncesCommand.self,
            EngagementCommand.self, ScoresCommand.self, SegmentCommand.self, BenchRender.self,
        ]
    )
}
