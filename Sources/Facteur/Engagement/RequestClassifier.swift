/// The kind of hardware a request came from.
///
/// `other` is hardware that is none of the three: televisions, set-top boxes and game consoles.
public enum DeviceClass: String, Sendable, Codable, CaseIterable {
    case mobile, tablet, desktop, other
}

/// What Facteur makes of one request to the open pixel or a click redirect.
public struct RequestTraits: Sendable, Equatable {
    /// The hardware, or nil when it cannot be told (an image proxy, a machine, an agent that does not say).
    public var device: DeviceClass?
    /// The mail program family ("Apple Mail", "Gmail", "Outlook", "Web browser", …), or nil when unknown.
    public var client: String?
    /// True when no person caused the request: a privacy proxy, a security scanner, a link unfurler, a prefetch.
    public var machine: Bool
    /// Why `machine` is true, as a short stable code; nil for a person.
    public var machineReason: String?

    public init(device: DeviceClass? = nil, client: String? = nil, machine: Bool = false, machineReason: String? = nil) {
        self.device = device
        self.client = client
        self.machine = machine
        self.machineReason = machineReason
    }
}

/// Tells people from machines among the requests that hit the open pixel and the click redirect, and names the
/// reader's device and mail program when the request shows them.
///
/// **Machine or person.** The first rule that applies gives `machineReason`:
/// 1. `head_request`: the method is `HEAD`. Browsers and mail programs fetch with `GET`; link checkers probe with `HEAD`.
/// 2. `no_user_agent`: the `User-Agent` header is missing or blank.
/// 3. `prefetch_header`: a `Purpose`, `Sec-Purpose`, `X-Purpose` or `X-Moz` header says `prefetch` or `preview`
///    (browsers send these when they load a page the person has not asked for yet).
/// 4. `apple_privacy_proxy`: Apple Mail Privacy Protection. Its proxy loads every image of a message when it arrives,
///    whether or not it is read, with the bare user agent `Mozilla/5.0`; an open with exactly that agent is Apple's
///    proxy. So is any request, open or click, from Apple's network 17.0.0.0/8. Such opens carry client "Apple Mail".
/// 5. `scanner_agent`: a mail security product that visits links and images to check them: Barracuda, Mimecast,
///    Proofpoint, Trend Micro, Symantec/Broadcom/MessageLabs, Cisco IronPort, Fortinet, Sophos, Forcepoint, Zscaler,
///    McAfee, Cloudmark, Microsoft Safe Links, and Office's `Existence Discovery` / `Protocol Discovery` probes.
/// 6. `bot_agent`: link unfurlers and crawlers (BingPreview, Slackbot and Slack-ImgProxy, LinkedInBot,
///    facebookexternalhit, Twitterbot, WhatsApp, TelegramBot, Discordbot, Googlebot, Applebot, anything named
///    `…bot`, `crawler`, `spider` or `preview`), headless browsers (HeadlessChrome, PhantomJS) and HTTP libraries
///    (curl, Wget, python-requests, python-urllib, httpx, aiohttp, Go-http-client, Java, OkHttp, libwww-perl,
///    axios, node-fetch, undici, Apache HttpClient, Guzzle, Postman, Scrapy). A click with the bare agent
///    `Mozilla/5.0` is also a bot: no browser sends it, and Apple's proxy does not follow links.
/// 7. `machine_ip`: the peer address is in one of the operator's networks (`extraMachineNetworks`,
///    `FACTEUR_MACHINE_NETWORKS`), for example the egress ranges of a scanning service.
///
/// Image proxies that fetch when the reader opens the message count as people: Gmail's (`GoogleImageProxy`,
/// `ggpht.com`; client "Gmail") and Yahoo's (`YahooMailProxy`; client "Yahoo Mail", which also serves AOL). Their
/// requests say nothing about the reader's device, so `device` is nil.
///
/// **Device**, for people only (a machine has none): a TV, set-top box or console is `other`; iPad, Kindle/Silk and
/// anything saying "Tablet" is `tablet`; iPhone and iPod are `mobile`; Android is `mobile` with the word "Mobile" and
/// `tablet` without it, but only for browser agents, because app agents (`Dalvik/…`) leave the word out on phones too;
/// anything else saying "Mobile" (Windows Phone, BlackBerry, Opera Mini) is `mobile`; Windows NT (which includes
/// Outlook's `Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.…)`), Macintosh, X11/Linux and
/// Chrome OS are `desktop`. iPadOS Safari asks for desktop pages and says Macintosh, so it counts as desktop.
///
/// **Client**, for people, the first that applies:
/// - Gmail's or Yahoo's image proxy, as above.
/// - A program that names itself: Outlook (`Microsoft Outlook`, `ms-office`, `Outlook-iOS`, `Outlook-Android`),
///   Thunderbird, Spark (Readdle), Superhuman, Proton Mail, eM Client, Mailbird, Postbox, Airmail.
/// - "Apple Mail": an Apple WebKit view on a Mac, iPhone or iPad whose agent stops at `(KHTML, like Gecko)`, or adds
///   only `Mobile/<build>` on iOS. Safari and in-app browsers add more tokens. Other Mac and iOS mail programs that
///   use the system's WebKit view without naming themselves (Outlook for Mac among them) look the same and are
///   counted as Apple Mail.
/// - A webmail site named by the browser's `Referer` or `Origin`: mail.google.com "Gmail", outlook.live.com
///   "Outlook.com", outlook.office.com "Outlook", mail.yahoo.com "Yahoo Mail", mail.aol.com "AOL Mail",
///   mail.proton.me "Proton Mail", www.icloud.com "iCloud Mail", Zoho, Fastmail, Superhuman, Yandex.
/// - "Web browser": any other browser (Chrome, Firefox, Safari, Edge, Opera, Samsung Internet, …), typically a click,
///   or webmail that sends no referrer. Samsung Internet (`SamsungBrowser/`) is a browser; the Samsung Email app
///   shows only a plain Android WebView (`; wv)`), like most Android mail apps, so those are nil.
///
/// Classifying a typical agent takes a few hundred nanoseconds: every needle is found in one pass over the agent.
public struct RequestClassifier: Sendable {
    /// Which tracked endpoint the request hit.
    public enum Kind: Sendable {
        case open, click
    }

    let machineNetworks: [IPNetwork]

    /// - Parameter extraMachineNetworks: CIDR blocks, IPv4 or IPv6 (`203.0.113.0/24`, `2001:db8::/32`), whose
    ///   requests are machines, such as a scanner's egress ranges. A bare address is one host. IPv6 networks never
    ///   match IPv4 peers, including IPv4-mapped ones; write `::ffff:a.b.c.d/n` to mean the IPv4 block.
    /// - Throws: `FacteurError` `.invalid`, naming the first entry that is not a network.
    public init(extraMachineNetworks: [String] = []) throws {
        _ = UserAgentTables.scanner  // build the automaton now rather than on the first request
        machineNetworks = try extraMachineNetworks.map { text in
            guard let network = IPNetwork(cidr: text) else {
                throw FacteurError(
                    .invalid, "'\(text)' is not an IPv4 or IPv6 network in CIDR notation (like 203.0.113.0/24 or 2001:db8::/32)")
            }
            return network
        }
    }

    /// Reads `FACTEUR_MACHINE_NETWORKS`, a comma-separated list of CIDR blocks; unset or empty means none.
    public static func fromEnvironment(_ environment: [String: String]) throws -> RequestClassifier {
        let entries = (environment["FACTEUR_MACHINE_NETWORKS"] ?? "").split(separator: ",")
            .map { ASCIIBytes.withBytes($0) { String(decoding: $0.trimmingSpaces(), as: UTF8.self) } }
            .filter { !$0.isEmpty }
        do {
            return try RequestClassifier(extraMachineNetworks: entries)
        } catch let error as FacteurError {
            throw FacteurError(.invalid, "FACTEUR_MACHINE_NETWORKS: \(error.message)")
        }
    }

    /// - Parameters:
    ///   - userAgent: the `User-Agent` header as received.
    ///   - remoteAddress: the peer's address, plain (`192.0.2.7`, `2001:db8::7`) or with a port (`192.0.2.7:5123`,
    ///     `[2001:db8::7]:5123`, SwiftNIO's `[IPv4]192.0.2.7:5123`). Behind a reverse proxy, pass the client address
    ///     it reports, not the proxy's.
    ///   - headers: the request headers; names are matched ignoring case.
    public func classify(kind: Kind, method: String, userAgent: String?, remoteAddress: String?, headers: [String: String])
        -> RequestTraits
    {
        if ASCIIBytes.withBytes(method, { $0.equals("HEAD", ignoringCase: true) }) { return .machine("head_request") }
        let peer = remoteAddress.flatMap { IPAddress(peer: $0) }
        let (prefetch, referrer) = Self.inspect(headers)
        return ASCIIBytes.withBytes(userAgent ?? "") { whole in
            let agent = whole.trimmingSpaces()
            if agent.isEmpty { return .machine("no_user_agent") }
            if prefetch { return .machine("prefetch_header") }
            let bareMozilla = agent.equals("Mozilla/5.0", ignoringCase: false)
            if (kind == .open && bareMozilla) || peer.map({ UserAgentTables.appleNetwork.contains($0) }) == true {
                return RequestTraits(client: kind == .open ? "Apple Mail" : nil, machine: true, machineReason: "apple_privacy_proxy")
            }
            let signals = UserAgentSignals(bits: UserAgentTables.scanner.scan(agent))
            if signals.has(.securityScanner) { return .machine("scanner_agent") }
            let namedBot = signals.has(.botSuffix) || agent.hasSuffix("bot", ignoringCase: true)
            if signals.has(.knownBot) || (namedBot && !signals.has(.botLookalike)) || bareMozilla {
                return .machine("bot_agent")
            }
            if let peer, machineNetworks.contains(where: { $0.contains(peer) }) { return .machine("machine_ip") }

            if signals.has(.gmailProxy) { return RequestTraits(client: "Gmail") }
            if signals.has(.yahooProxy) { return RequestTraits(client: "Yahoo Mail") }
            return RequestTraits(device: Self.device(signals), client: Self.client(signals, agent: agent, referrer: referrer))
        }
    }
}
