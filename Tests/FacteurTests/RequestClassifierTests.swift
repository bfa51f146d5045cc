import Testing

@testable import Facteur

/// One user agent and what the classifier should make of it on the open pixel (or a click, where marked).
struct UserAgentCase: Sendable, CustomTestStringConvertible {
    var agent: String
    var device: DeviceClass?
    var client: String?
    var reason: String?
    var kind: RequestClassifier.Kind = .open

    var testDescription: String { agent }

    static func person(_ agent: String, _ device: DeviceClass?, _ client: String?, kind: RequestClassifier.Kind = .open) -> UserAgentCase {
        UserAgentCase(agent: agent, device: device, client: client, kind: kind)
    }

    static func machine(_ agent: String, _ reason: String, kind: RequestClassifier.Kind = .open) -> UserAgentCase {
        UserAgentCase(agent: agent, reason: reason, kind: kind)
    }
}

/// Agents the rule tests borrow.
enum SampleAgent {
    static let chrome =
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
    static let safari =
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15"
    static let outlook = "Microsoft Office/16.0 (Windows NT 10.0; Microsoft Outlook 16.0.17126; Pro)"
}

/// Agents seen on opens and clicks: mail programs, image proxies, browsers, and the machines that pose as readers.
let userAgentCases: [UserAgentCase] = [
    // Apple Mail: a bare WebKit view, with only Mobile/<build> after "(KHTML, like Gecko)" on iOS.
    .person(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148",
        .mobile, "Apple Mail"),
    .person("Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148", .tablet, "Apple Mail"),
    .person("Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko)", .desktop, "Apple Mail"),
    UserAgentCase(agent: "Mozilla/5.0", client: "Apple Mail", reason: "apple_privacy_proxy"),
    // Image proxies that fetch when the reader opens the message.
    .person("Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)", nil, "Gmail"),
    .person("YahooMailProxy; https://help.yahoo.com/kb/yahoo-mail-proxy-SLN28749.html", nil, "Yahoo Mail"),
    // Outlook, with the Word engine on Windows, the older IE engine, and the mobile apps.
    .person(SampleAgent.outlook, .desktop, "Outlook"),
    .person(
        "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.1; WOW64; Trident/7.0; SLCC2; .NET CLR 2.0.50727; "
            + "Microsoft Outlook 15.0.5023; ms-office; MSOffice 15)",
        .desktop, "Outlook"),
    .person("Outlook-iOS/709.2189947.prod.iphone (3.24.0)", .mobile, "Outlook"),
    .person("Outlook-Android/2.0", nil, "Outlook"),
    // Thunderbird on three systems.
    .person("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101 Thunderbird/115.6.0", .desktop, "Thunderbird"),
    .person("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Thunderbird/128.3.1", .desktop, "Thunderbird"),
    .person("Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:115.0) Gecko/20100101 Thunderbird/115.5.2", .desktop, "Thunderbird"),
    // Browsers: clicks, and webmail that sends no referrer.
    .person(SampleAgent.chrome, .desktop, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 "
            + "Edg/124.0.2478.80",
        .desktop, "Web browser", kind: .click),
    .person("Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0", .desktop, "Web browser", kind: .click),
    .person(SampleAgent.safari, .desktop, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 "
            + "Mobile/15E148 Safari/604.1",
        .mobile, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/125.0.6422.80 "
            + "Mobile/15E148 Safari/604.1",
        .mobile, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/125.0.0.0 Mobile Safari/537.36",
        .mobile, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (Linux; Android 13; SM-X706B) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.6367.82 Safari/537.36",
        .tablet, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 "
            + "Chrome/121.0.0.0 Mobile Safari/537.36",
        .mobile, "Web browser", kind: .click),
    .person("Mozilla/5.0 (Android 14; Mobile; rv:126.0) Gecko/126.0 Firefox/126.0", .mobile, "Web browser", kind: .click),
    .person("Mozilla/5.0 (Android 13; Tablet; rv:126.0) Gecko/126.0 Firefox/126.0", .tablet, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (Linux; Android 9; KFTRWI) AppleWebKit/537.36 (KHTML, like Gecko) Silk/124.2.1 like Chrome/124.0.6367.118 "
            + "Safari/537.36",
        .tablet, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (X11; CrOS x86_64 14541.0.0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36",
        .desktop, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (Windows Phone 10.0; Android 6.0.1; Microsoft; Lumia 950) AppleWebKit/537.36 (KHTML, like Gecko) "
            + "Chrome/52.0.2743.116 Mobile Safari/537.36 Edge/15.15063",
        .mobile, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64; Xbox; Xbox One) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 "
            + "Safari/537.36 Edge/18.19041",
        .other, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (SMART-TV; LINUX; Tizen 6.0) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/4.0 Chrome/76.0.3809.146 "
            + "TV Safari/537.36",
        .other, "Web browser", kind: .click),
    .person(
        "Mozilla/5.0 (Linux; Android 10; CUBOT X30) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/119.0.6045.193 Mobile "
            + "Safari/537.36",
        .mobile, "Web browser", kind: .click),
    // App web views that do not name the app: device known, program not.
    .person(
        "Mozilla/5.0 (Linux; Android 13; SM-G991B Build/TP1A.220624.014; wv) AppleWebKit/537.36 (KHTML, like Gecko) "
            + "Version/4.0 Chrome/120.0.6099.144 Mobile Safari/537.36",
        .mobile, nil),
    .person(
        "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 "
            + "[FBAN/FBIOS;FBAV/466.0.0.45.108;FBBV/602227463;FBDV/iPhone15,2;FBMD/iPhone;FBSN/iOS;FBSV/17.5;FBSS/3;FBLC/en_US]",
        .mobile, nil, kind: .click),
    .person("Dalvik/2.1.0 (Linux; U; Android 13; Pixel 7 Build/TQ3A.230805.001)", nil, nil),
    // Crawlers, unfurlers and HTTP libraries.
    .machine("Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)", "bot_agent"),
    .machine("Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/534+ (KHTML, like Gecko) BingPreview/1.0b", "bot_agent", kind: .click),
    .machine("Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)", "bot_agent", kind: .click),
    .machine("Slack-ImgProxy (+https://api.slack.com/robots)", "bot_agent"),
    .machine("LinkedInBot/1.0 (compatible; Mozilla/5.0; Apache-HttpClient +http://www.linkedin.com)", "bot_agent", kind: .click),
    .machine("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)", "bot_agent", kind: .click),
    .machine("Twitterbot/1.0", "bot_agent", kind: .click),
    .machine("WhatsApp/2.23.20.0 A", "bot_agent", kind: .click),
    .machine("TelegramBot (like TwitterBot)", "bot_agent", kind: .click),
    .machine("Mozilla/5.0 (compatible; Discordbot/2.0; +https://discordapp.com)", "bot_agent", kind: .click),
    .machine(
        "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/13.1.1 Safari/605.1.15 "
            + "(Applebot/0.1; +http://www.apple.com/go/applebot)",
        "bot_agent", kind: .click),
    .machine(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.6367.60 Safari/537.36",
        "bot_agent", kind: .click),
    .machine("curl/8.5.0", "bot_agent", kind: .click),
    .machine("Wget/1.21.4", "bot_agent", kind: .click),
    .machine("python-requests/2.31.0", "bot_agent", kind: .click),
    .machine("Python-urllib/3.11", "bot_agent", kind: .click),
    .machine("Go-http-client/1.1", "bot_agent", kind: .click),
    .machine("Java/1.8.0_392", "bot_agent", kind: .click),
    .machine("okhttp/4.12.0", "bot_agent"),
    .machine("libwww-perl/6.72", "bot_agent", kind: .click),
    .machine("axios/1.6.8", "bot_agent", kind: .click),
    .machine("node-fetch/1.0 (+https://github.com/bitinn/node-fetch)", "bot_agent", kind: .click),
    .machine("Mozilla/5.0", "bot_agent", kind: .click),
    // Security scanners: Office's probe, and the vendor names the rules look for.
    .machine("Microsoft Office Existence Discovery", "scanner_agent", kind: .click),
    .machine("Mozilla/5.0 (compatible; Barracuda Sentinel)", "scanner_agent", kind: .click),
    .machine("Mimecast URL Protect", "scanner_agent", kind: .click),
    .machine("Proofpoint URL Defense", "scanner_agent", kind: .click),
    .machine("Mozilla/5.0 (Windows NT 10.0; Win64; x64) Trend Micro Email Security", "scanner_agent", kind: .click),
    .machine("Cisco IronPort URL Filtering", "scanner_agent", kind: .click),
    .machine("FortiGuard Web Filtering", "scanner_agent", kind: .click),
    .machine("Sophos Email Link Protection", "scanner_agent", kind: .click),
    .machine("Symantec Email Security.cloud", "scanner_agent", kind: .click),
]

@Suite("Who asked for the pixel or the link")
struct RequestClassifierTests {
    let classifier = try! RequestClassifier()

    func classify(
        _ agent: String?, kind: RequestClassifier.Kind = .open, method: String = "GET", peer: String? = "192.0.2.10",
        headers: [String: String] = [:]
    ) -> RequestTraits {
        classifier.classify(kind: kind, method: method, userAgent: agent, remoteAddress: peer, headers: headers)
    }

    @Test(arguments: userAgentCases)
    func each_known_agent_gets_its_device_client_and_machine_reason(_ expected: UserAgentCase) {
        let traits = classify(expected.agent, kind: expected.kind)
        #expect(traits.machineReason == expected.reason)
        #expect(traits.machine == (expected.reason != nil))
        #expect(traits.device == expected.device)
        #expect(traits.client == expected.client)
    }

    @Test func the_table_covers_enough_agents_and_every_reason_from_the_agent() {
        #expect(userAgentCases.count >= 40)
        let reasons = Set(userAgentCases.compactMap(\.reason))
        #expect(reasons == ["apple_privacy_proxy", "bot_agent", "scanner_agent"])
    }

    @Test func a_head_request_is_a_machine_whatever_it_claims_to_be() {
        let safari = SampleAgent.safari
        #expect(classify(safari, method: "HEAD") == .machine("head_request"))
        #expect(classify(safari, kind: .click, method: "head") == .machine("head_request"))
        #expect(classify(safari, method: "GET").machine == false)
    }

    @Test func a_missing_or_blank_user_agent_is_a_machine() {
        for agent in [nil, "", "   ", "\t"] {
            #expect(classify(agent) == .machine("no_user_agent"))
            #expect(classify(agent, kind: .click) == .machine("no_user_agent"))
        }
    }

    @Test func a_prefetch_header_in_any_letter_case_is_a_machine() {
        let chrome = SampleAgent.chrome
        let prefetches: [[String: String]] = [
            ["Sec-Purpose": "prefetch;prerender"], ["sec-purpose": "prefetch"], ["Purpose": "prefetch"],
            ["X-Moz": "prefetch"], ["x-purpose": "preview"],
        ]
        for headers in prefetches {
            #expect(classify(chrome, kind: .click, headers: headers) == .machine("prefetch_header"), "\(headers)")
        }
        #expect(classify(chrome, kind: .click, headers: ["Purpose": "navigate"]).machine == false)
        #expect(classify(chrome, kind: .click, headers: ["X-Prefetch-Count": "prefetch"]).machine == false)
    }

    @Test func apples_proxy_is_the_bare_agent_on_opens_and_anything_from_apples_network() {
        #expect(classify(" Mozilla/5.0 ") == RequestTraits(client: "Apple Mail", machine: true, machineReason: "apple_privacy_proxy"))
        #expect(classify("Mozilla/5.0 (compatible)").machineReason == nil)
        let chrome = SampleAgent.chrome
        for peer in ["17.0.0.0", "17.58.101.4:443", "17.255.255.255", "::ffff:17.1.2.3", "[IPv4]17.1.2.3:50123"] {
            #expect(classify(chrome, peer: peer).machineReason == "apple_privacy_proxy", "\(peer)")
        }
        #expect(classify(chrome, kind: .click, peer: "17.1.2.3") == .machine("apple_privacy_proxy"))
        for peer in ["16.255.255.255", "18.0.0.0", "2001:db8::17"] {
            #expect(classify(chrome, peer: peer).machine == false, "\(peer)")
        }
    }

    @Test func the_first_rule_that_applies_names_the_reason() {
        #expect(classify(nil, method: "HEAD").machineReason == "head_request")
        #expect(classify("Mozilla/5.0", headers: ["Sec-Purpose": "prefetch"]).machineReason == "prefetch_header")
        #expect(classify("curl/8.5.0", peer: "17.0.0.1").machineReason == "apple_privacy_proxy")
        #expect(classify("Proofpoint Googlebot").machineReason == "scanner_agent")
    }

    @Test func a_webmail_referrer_names_the_webmail_for_browsers() {
        let chrome = SampleAgent.chrome
        let webmails = [
            ("https://outlook.live.com/", "Outlook.com"), ("https://outlook.office.com/mail/inbox", "Outlook"),
            ("https://mail.yahoo.com/d/folders/1", "Yahoo Mail"), ("https://uk.mail.yahoo.com/", "Yahoo Mail"),
            ("https://mail.aol.com/webmail-std/en-us/suite", "AOL Mail"), ("https://MAIL.PROTON.ME/u/0/inbox", "Proton Mail"),
            ("https://mail.google.com/", "Gmail"), ("https://notmail.google.com/", "Web browser"),
            ("https://mail.google.com.example/", "Web browser"), ("not a url", "Web browser"),
        ]
        for (referrer, client) in webmails {
            #expect(classify(chrome, kind: .click, headers: ["referer": referrer]).client == client, "\(referrer)")
        }
        #expect(classify(chrome, headers: ["Origin": "https://mail.aol.com"]).client == "AOL Mail")
        #expect(classify(SampleAgent.outlook, headers: ["Referer": "https://mail.yahoo.com/"]).client == "Outlook")
    }

    @Test func a_phone_brand_that_ends_in_bot_is_not_a_bot_but_a_name_ending_in_bot_is() {
        #expect(classify("Mozilla/5.0 (Linux; Android 12; Cubot P80) Mobile").machine == false)
        #expect(classify("ExampleLinkbot").machineReason == "bot_agent")
        #expect(classify("Mozilla/5.0 (compatible; SomeCrawler/1.0)").machineReason == "bot_agent")
    }
}

@Suite("Finding many needles in one pass")
struct NeedleScannerTests {
    func found(_ text: String, in scanner: NeedleScanner) -> UInt64 {
        ASCIIBytes.withBytes(text) { scanner.scan($0) }
    }

    @Test func overlapping_needles_and_needles_inside_needles_are_all_found_ignoring_case() {
        let scanner = NeedleScanner([("he", 0), ("she", 1), ("his", 2), ("hers", 3), ("bot ", 4), ("cubot", 5)])
        #expect(found("USHERS", in: scanner) == 0b1011)
        #expect(found("this", in: scanner) == 0b0100)
        #expect(found("Cubot X30", in: scanner) == 0b11_0000)
        #expect(found("hxe sh e", in: scanner) == 0)
        #expect(found("", in: scanner) == 0)
        #expect(found("héhe", in: scanner) == 0b0001)
    }
}
