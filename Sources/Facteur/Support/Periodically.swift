import Logging
import ServiceLifecycle

/// Runs `pass` now and then every `interval` until graceful shutdown or cancellation: the loop of
/// the background services (scheduler, partition and score maintenance). A failed pass is logged
/// as `failure` and the next one comes on time; the wait ends at once on shutdown.
func runPeriodically(every interval: Duration, logger: Logger, failure: String, _ pass: () async throws -> Void) async {
    while !Task.isShuttingDownGracefully && !Task.isCancelled {
        do {
            try await pass()
        } catch {
            logger.error("\(failure)", metadata: ["error": "\(error)"])
        }
        _ = try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval) }
    }
}
