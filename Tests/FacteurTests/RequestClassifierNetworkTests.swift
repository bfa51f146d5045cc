import Testing

@testable import Facteur

/// Operator networks, the peer address in its many spellings, and the hand-written IP parser under them.
@Suite("Machine networks and peer addresses")
struct RequestClassifierNetworkTests {
    func reason(_ classifier: RequestClassifier, peer: String?) -> String? {
        classifier.classify(kind: .click, method: "GET", userAgent: SampleAgent.chrome, remoteAddress: peer, headers: [:]).machineReason
    }

    @Test func an_ipv4_operator_network_includes_both_ends_and_nothing_past_them() throws {
        let classifier = try RequestClassifier(extraMachineNetworks: ["203.0.113.0/24", "198.51.100.7"])
        for peer in ["203.0.113.0", "203.0.113.255", "203.0.113.9:443", "[IPv4]203.0.113.9:443", "::ffff:203.0.113.9", "198.51.100.7"] {
            #expect(reason(classifier, peer: peer) == "machine_ip", "\(peer)")
        }
        for peer in ["203.0.112.255", "203.0.114.0", "198.51.100.6", "198.51.100.8", "2001:db8::1", "not an address", nil] {
            #expect(reason(classifier, peer: peer) == nil, "\(String(describing: peer))")
        }
    }

    @Test func an_ipv6_operator_network_includes_both_ends_and_nothing_past_them() throws {
        let classifier = try RequestClassifier(extraMachineNetworks: ["2001:db8:abcd::/48", "2001:db8:1:2::/64", "fe80::/10"])
        let inside = [
            "2001:db8:abcd::", "2001:db8:abcd:ffff:ffff:ffff:ffff:ffff", "[2001:db8:abcd::1]:8080", "[2001:DB8:ABCD::1]",
            "[IPv6]2001:db8:abcd::1:443", "[IPv6]peer.example/2001:db8:abcd::1:443", "2001:db8:1:2:ffff:ffff:ffff:ffff",
            "fe80::1%eth0", "febf::1",
        ]
        for peer in inside { #expect(reason(classifier, peer: peer) == "machine_ip", "\(peer)") }
        let outside = ["2001:db8:abcc:ffff:ffff:ffff:ffff:ffff", "2001:db8:abce::", "2001:db8:1:3::", "2001:db8:1:1:ffff::", "fec0::1"]
        for peer in outside { #expect(reason(classifier, peer: peer) == nil, "\(peer)") }
    }

    @Test func ipv6_networks_never_match_ipv4_peers_unless_written_as_mapped_ipv4() throws {
        let everyV6 = try RequestClassifier(extraMachineNetworks: ["::/0"])
        #expect(reason(everyV6, peer: "2001:db8::1") == "machine_ip")
        #expect(reason(everyV6, peer: "192.0.2.1") == nil)
        #expect(reason(everyV6, peer: "::ffff:192.0.2.1") == nil)
        let mapped = try RequestClassifier(extraMachineNetworks: ["::ffff:192.0.2.0/120"])
        #expect(reason(mapped, peer: "192.0.2.200") == "machine_ip")
        #expect(reason(mapped, peer: "192.0.3.1") == nil)
        let everyV4 = try RequestClassifier(extraMachineNetworks: ["0.0.0.0/0"])
        #expect(reason(everyV4, peer: "255.255.255.255") == "machine_ip")
        #expect(reason(everyV4, peer: "::1") == nil)
    }

    @Test func prefix_lengths_at_the_64_bit_seam_and_the_ends_mask_correctly() throws {
        let cases: [(String, inside: String, outside: String)] = [
            ("2001:db8::/63", "2001:db8:0:1:ffff::", "2001:db8:0:2::"),
            ("2001:db8::/65", "2001:db8::7fff:ffff:ffff:ffff", "2001:db8::8000:0:0:0"),
            ("2001:db8::1/128", "2001:db8::1", "2001:db8::2"),
            ("2001:db8::/127", "2001:db8::1", "2001:db8::2"),
            ("10.0.0.4/31", "10.0.0.5", "10.0.0.6"),
            ("10.0.0.0/1", "127.255.255.255", "128.0.0.0"),
            ("10.9.8.7/8", "10.255.0.1", "11.0.0.0"),
        ]
        for (cidr, inside, outside) in cases {
            let network = try #require(IPNetwork(cidr: cidr), "\(cidr)")
            #expect(network.contains(try #require(IPAddress(inside))), "\(cidr) \(inside)")
            #expect(!network.contains(try #require(IPAddress(outside))), "\(cidr) \(outside)")
        }
    }

    @Test(arguments: ["10.0.0.0/33", "abc", "1.2.3.4/", "::/129", "/8", "1.2.3.4/x", "10.0.0.0/-1", "1.2.3.4/1/2", "::ffff:1.2.3.4/95"])
    func a_bad_network_is_refused_with_its_text_in_the_message(_ text: String) {
        let error = #expect(throws: FacteurError.self) { try RequestClassifier(extraMachineNetworks: ["192.0.2.0/24", text]) }
        #expect(error?.kind == .invalid)
        #expect(error?.message.contains("'\(text)'") == true)
    }

    @Test func the_environment_lists_networks_separated_by_commas() throws {
        let classifier = try RequestClassifier.fromEnvironment(["FACTEUR_MACHINE_NETWORKS": " 203.0.113.0/24 , 2001:db8::/32,"])
        #expect(classifier.machineNetworks.count == 2)
        #expect(reason(classifier, peer: "2001:db8::5") == "machine_ip")
        #expect(try RequestClassifier.fromEnvironment([:]).machineNetworks.isEmpty)
        #expect(try RequestClassifier.fromEnvironment(["FACTEUR_MACHINE_NETWORKS": ""]).machineNetworks.isEmpty)
        let error = #expect(throws: FacteurError.self) {
            try RequestClassifier.fromEnvironment(["FACTEUR_MACHINE_NETWORKS": "203.0.113.0/24,10.0.0.0/33"])
        }
        #expect(error?.kind == .invalid)
        #expect(error?.message.hasPrefix("FACTEUR_MACHINE_NETWORKS: '10.0.0.0/33'") == true)
    }

    @Test func ipv4_text_is_four_plain_decimal_parts() {
        #expect(IPAddress("192.0.2.1") == IPAddress(family: .v4, high: 0, low: 0xC000_0201))
        #expect(IPAddress("0.0.0.0") == IPAddress(family: .v4, high: 0, low: 0))
        for text in ["256.1.1.1", "1.2.3", "1.2.3.4.5", "01.2.3.4", "1..2.3", "1.2.3.", " 1.2.3.4", "1.2.3.4a", ""] {
            #expect(IPAddress(text) == nil, "\(text)")
        }
    }

    @Test func ipv6_text_allows_one_gap_and_a_dotted_tail() {
        #expect(IPAddress("::") == IPAddress(family: .v6, high: 0, low: 0))
        #expect(IPAddress("::1") == IPAddress(family: .v6, high: 0, low: 1))
        #expect(IPAddress("1::") == IPAddress(family: .v6, high: 0x0001_0000_0000_0000, low: 0))
        #expect(IPAddress("1:2:3:4:5:6:7:8") == IPAddress(family: .v6, high: 0x0001_0002_0003_0004, low: 0x0005_0006_0007_0008))
        #expect(IPAddress("1:2:3:4:5:6:7::") == IPAddress(family: .v6, high: 0x0001_0002_0003_0004, low: 0x0005_0006_0007_0000))
        #expect(IPAddress("2001:DB8::a:B") == IPAddress(family: .v6, high: 0x2001_0db8_0000_0000, low: 0x0000_0000_000a_000b))
        #expect(IPAddress("64:ff9b::192.0.2.33") == IPAddress(family: .v6, high: 0x0064_ff9b_0000_0000, low: 0xc000_0221))
        #expect(IPAddress("1:2:3:4:5:6:192.0.2.33") == IPAddress(family: .v6, high: 0x0001_0002_0003_0004, low: 0x0005_0006_c000_0221))
        #expect(IPAddress("::ffff:192.0.2.33") == IPAddress(family: .v4, high: 0, low: 0xc000_0221))
        #expect(IPAddress("::FFFF:c000:0221") == IPAddress(family: .v4, high: 0, low: 0xc000_0221))
        let bad = [
            "1:2:3:4:5:6:7:8:9", "1:2:3:4:5:6:7", "1::2::3", ":::", ":1", "1:", "12345::", "g::", "1:2:3:4:5:6:7:8::",
            "::1.2.3", "::1.2.3.4:5", "1:2:3:4:5:6:7:1.2.3.4", "::ffff:01.2.3.4",
        ]
        for text in bad { #expect(IPAddress(text) == nil, "\(text)") }
    }

    @Test func a_peer_may_carry_a_port_brackets_a_zone_or_niOs_description() {
        let v4 = IPAddress("192.0.2.1")
        let v6 = IPAddress("2001:db8::1")
        for text in ["192.0.2.1", " 192.0.2.1:8080 ", "[IPv4]192.0.2.1:8080", "[IPv4]host.example/192.0.2.1:8080", "[::ffff:192.0.2.1]:1"] {
            #expect(IPAddress(peer: text) == v4, "\(text)")
        }
        for text in [
            "2001:db8::1", "[2001:db8::1]", "[2001:db8::1]:443", "[IPv6]2001:db8::1:443", "2001:db8::1%en0", "[2001:db8::1%25en0]:80",
        ] {
            #expect(IPAddress(peer: text) == v6, "\(text)")
        }
        for text in ["", "[UDS]facteur.sock", "[2001:db8::1", "[2001:db8::1]x", "host.example:80", "192.0.2.1:http"] {
            #expect(IPAddress(peer: text) == nil, "\(text)")
        }
    }
}
