/// What a user agent reveals, one bit per fact. Needles (matched anywhere, ignoring case) set the bits.
enum UserAgentSignal: Int, CaseIterable, Sendable {
    // Image proxies that fetch on the reader's behalf when the message is opened.
    case gmailProxy, yahooProxy
    // Mail programs that name themselves.
    case outlook, thunderbird, spark, superhuman, protonMail, emClient, mailbird, postbox, airmail
    // Machines.
    case securityScanner, knownBot, botSuffix, botLookalike
    // Hardware and platform.
    case television, ipad, tabletWord, kindle, iphone, android, mobileWord, desktop, macintosh
    // Engines.
    case appleWebKit, browser, androidWebView

    var bit: UInt64 { 1 << UInt64(rawValue) }
}

/// A set of `UserAgentSignal`s as one word.
struct UserAgentSignals: Sendable {
    var bits: UInt64

    func has(_ signal: UserAgentSignal) -> Bool { bits & signal.bit != 0 }
}

/// The pattern tables behind `RequestClassifier`. All needles are compared case-insensitively as plain substrings.
enum UserAgentTables {
    static let needles: [(String, UserAgentSignal)] =
        [
            ("googleimageproxy", .gmailProxy), ("ggpht.com", .gmailProxy),
            ("yahoomailproxy", .yahooProxy),
            // Outlook for Windows says "Microsoft Outlook 16.0.x"; older builds add "ms-office; MSOffice 16".
            ("microsoft outlook", .outlook), ("ms-office", .outlook), ("msoffice", .outlook),
            ("outlook-ios", .outlook), ("outlook-android", .outlook),
            ("thunderbird/", .thunderbird), ("readdle", .spark), ("superhuman", .superhuman),
            ("protonmail", .protonMail), ("proton mail", .protonMail),
            ("em client", .emClient), ("mailbird", .mailbird), ("postbox/", .postbox), ("airmail", .airmail),
            ("cubot", .botLookalike),  // an Android phone brand, not a bot
            ("smart-tv", .television), ("smarttv", .television), ("googletv", .television), ("android tv", .television),
            ("appletv", .television), ("crkey", .television), ("hbbtv", .television), ("web0s", .television),
            ("roku", .television), ("playstation", .television), ("xbox", .television), ("nintendo", .television),
            ("ipad", .ipad), ("tablet", .tabletWord), ("playbook", .tabletWord), ("kindle", .kindle), ("silk/", .kindle),
            ("iphone", .iphone), ("ipod", .iphone),
            // "Android 14", "(Android 14; Mobile" and "Android;" but not an app name such as "Outlook-Android/2.0".
            ("android ", .android), ("android;", .android), ("android)", .android),
            ("mobile", .mobileWord), ("opera mini", .mobileWord), ("blackberry", .mobileWord), ("bb10", .mobileWord),
            ("windows phone", .mobileWord),
            // "CrOS x86_64": the space keeps "Microsoft" from counting as Chrome OS.
            ("windows nt", .desktop), ("x11", .desktop), ("linux", .desktop), ("cros ", .desktop),
            ("macintosh", .macintosh),
            ("applewebkit/", .appleWebKit),
            ("chrome/", .browser), ("chromium/", .browser), ("firefox/", .browser), ("safari/", .browser), ("edg/", .browser),
            ("edge/", .browser), ("opr/", .browser), ("opera", .browser), ("crios/", .browser), ("fxios/", .browser),
            ("edgios/", .browser), ("samsungbrowser/", .browser), ("trident/", .browser), ("msie ", .browser),
            ("vivaldi", .browser), ("yabrowser/", .browser),
            ("; wv)", .androidWebView),
        ]
        + securityScanners.map { ($0, .securityScanner) }
        + knownBots.map { ($0, .knownBot) }
        + ["bot/", "bot;", "bot)", "bot ", "bot-", "bot_", "bot,"].map { ($0, .botSuffix) }

    /// Mail security gateways and link checkers that open every link or image before the reader sees the message.
    static let securityScanners = [
        "barracuda", "mimecast", "proofpoint", "trend micro", "trendmicro", "symantec", "broadcom", "messagelabs",
        "ironport", "fortinet", "fortiguard", "fortimail", "sophos", "forcepoint", "zscaler", "mcafee", "cloudmark",
        "safelinks", "safe links", "existence discovery", "protocol discovery",
    ]

    /// Link unfurlers, crawlers, headless browsers and HTTP libraries.
    static let knownBots = [
        "bingpreview", "slackbot", "slack-imgproxy", "linkedinbot", "facebookexternalhit", "facebot", "twitterbot",
        "whatsapp", "telegrambot", "discordbot", "skypeuripreview", "googlebot", "bingbot", "applebot",
        "crawler", "spider", "preview", "headlesschrome", "phantomjs", "curl/", "wget", "python-requests",
        "python-urllib", "python-httpx", "aiohttp", "go-http-client", "java/", "okhttp", "libwww-perl", "axios",
        "node-fetch", "undici", "apache-httpclient", "guzzlehttp", "postmanruntime", "scrapy",
    ]

    /// Mail programs that name themselves, in the order they are tried.
    static let namedClients: [(UserAgentSignal, String)] = [
        (.outlook, "Outlook"), (.thunderbird, "Thunderbird"), (.spark, "Spark"), (.superhuman, "Superhuman"),
        (.protonMail, "Proton Mail"), (.emClient, "eM Client"), (.mailbird, "Mailbird"), (.postbox, "Postbox"),
        (.airmail, "Airmail"),
    ]

    /// Webmail sites, recognised from the `Referer` or `Origin` a browser sends: the host or any subdomain of it.
    static let webmailHosts: [(host: String, client: String)] = [
        ("mail.google.com", "Gmail"),
        ("outlook.live.com", "Outlook.com"),
        ("outlook.office.com", "Outlook"), ("outlook.office365.com", "Outlook"), ("outlook.cloud.microsoft", "Outlook"),
        ("mail.yahoo.com", "Yahoo Mail"),
        ("mail.aol.com", "AOL Mail"),
        ("mail.proton.me", "Proton Mail"), ("mail.protonmail.com", "Proton Mail"),
        ("www.icloud.com", "iCloud Mail"),
        ("mail.zoho.com", "Zoho Mail"), ("mail.zoho.eu", "Zoho Mail"),
        ("app.fastmail.com", "Fastmail"), ("www.fastmail.com", "Fastmail"),
        ("mail.superhuman.com", "Superhuman"),
        ("mail.yandex.ru", "Yandex Mail"), ("mail.yandex.com", "Yandex Mail"),
    ]

    /// Apple's own network, 17.0.0.0/8, where Mail Privacy Protection's proxies fetch from.
    static let appleNetwork = IPNetwork(base: IPAddress(family: .v4, high: 0, low: 0x1100_0000), prefixLength: 8)

    static let scanner = NeedleScanner(needles.map { (text: $0.0, bit: $0.1.rawValue) })
}
