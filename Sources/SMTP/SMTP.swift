/// The SMTP client library: a pure client state machine (``SMTPClientStateMachine``, one
/// transaction at a time in ``SMTPTransaction``), the SwiftNIO channel handler that runs its
/// actions, connections with STARTTLS or implicit TLS, and a pool per server
/// (``SMTPClientPool``). It knows nothing of campaigns: `Facteur` depends on it, never the reverse.
public enum SMTP {}
