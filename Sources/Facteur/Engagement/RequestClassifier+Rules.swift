/// How `RequestClassifier` reads the device, the mail program and the headers of a request made by a person.
extension RequestClassifier {
    static func device(_ signals: UserAgentSignals) -> DeviceClass? {
        if signals.has(.television) { return .other }
        if signals.has(.ipad) || signals.has(.tabletWord) || signals.has(.kindle) { return .tablet }
        if signals.has(.iphone) { return .mobile }
        if signals.has(.android) {
            if signals.has(.mobileWord) { return .mobile }
            return signals.has(.browser) || signals.has(.androidWebView) ? .tablet : nil
        }
        if signals.has(.mobileWord) { return .mobile }
        if signals.has(.desktop) || signals.has(.macintosh) { return .desktop }
        return nil
    }

    static func client(_ signals: UserAgentSignals, agent: UnsafeBufferPointer<UInt8>, referrer: String?) -> String? {
        for (signal, name) in UserAgentTables.namedClients where signals.has(signal) { return name }
        let applePlatform = signals.has(.macintosh) || signals.has(.iphone) || signals.has(.ipad)
        if signals.has(.appleWebKit), applePlatform, isBareWebKitView(agent) { return "Apple Mail" }
        if let referrer, let webmail = webmail(referrer: referrer) { return webmail }
        if signals.has(.browser), !signals.has(.androidWebView) { return "Web browser" }
        return nil
    }

    /// `… AppleWebKit/605.1.15 (KHTML, like Gecko)`, optionally followed by ` Mobile/15E148`, and nothing else.
    static func isBareWebKitView(_ agent: UnsafeBufferPointer<UInt8>) -> Bool {
        var rest = agent
        if let space = rest.lastIndex(of: UInt8(ascii: " ")), rest.slice(space + 1).hasPrefix("Mobile/") {
            rest = rest.slice(0, space)
        }
        return rest.hasSuffix("(KHTML, like Gecko)")
    }

    /// Whether a prefetch header is present, and the `Referer` (or else the `Origin`).
    static func inspect(_ headers: [String: String]) -> (prefetch: Bool, referrer: String?) {
        var prefetch = false
        var referrer: String?
        var origin: String?
        for (name, value) in headers {
            let kind = ASCIIBytes.withBytes(name) { name -> Int in
                if name.equals("Purpose", ignoringCase: true) || name.equals("Sec-Purpose", ignoringCase: true)
                    || name.equals("X-Purpose", ignoringCase: true) || name.equals("X-Moz", ignoringCase: true)
                {
                    return 1
                }
                if name.equals("Referer", ignoringCase: true) { return 2 }
                if name.equals("Origin", ignoringCase: true) { return 3 }
                return 0
            }
            switch kind {
            case 1:
                prefetch =
                    prefetch
                    || ASCIIBytes.withBytes(value) {
                        $0.contains("prefetch", ignoringCase: true) || $0.contains("preview", ignoringCase: true)
                    }
            case 2: referrer = value
            case 3: origin = value
            default: break
            }
        }
        return (prefetch, referrer ?? origin)
    }

    /// The webmail whose host, or a subdomain of it, is the host of `url` (`https://Outlook.Live.com:443/mail/0/`).
    static func webmail(referrer url: String) -> String? {
        ASCIIBytes.withBytes(url) { url -> String? in
            guard let scheme = url.firstIndex(of: "://") else { return nil }
            var end = scheme + 3
            while end < url.count, !"/:?#".utf8.contains(url[end]) { end += 1 }
            let host = url.slice(scheme + 3, end)
            for (domain, name) in UserAgentTables.webmailHosts {
                let matched = ASCIIBytes.withBytes(domain) { domain in
                    host.equals(domain, ignoringCase: true)
                        || (host.count > domain.count && host[host.count - domain.count - 1] == UInt8(ascii: ".")
                            && host.hasSuffix(domain, ignoringCase: true))
                }
                if matched { return name }
            }
            return nil
        }
    }
}

extension RequestTraits {
    static func machine(_ reason: String) -> RequestTraits {
        RequestTraits(machine: true, machineReason: reason)
    }
}
