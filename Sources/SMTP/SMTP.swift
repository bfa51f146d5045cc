/// The SMTP client library: a SwiftNIO state machine, channel handlers and a connection pool.
///
/// The client arrives with the send-worker issue; the target exists now so that the dependency
/// direction (`Facteur` → `SMTP` → SwiftNIO, never the reverse) is fixed from the start.
public enum SMTP {}
