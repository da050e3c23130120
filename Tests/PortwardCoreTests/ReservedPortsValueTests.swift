import Testing
@testable import PortwardCore

@Suite struct ReservedPortsValueTests {
    @Test func encodesSortedMergedRangesWithNewline() {
        let set = PortSet(ranges: [PortRange(1813), PortRange(873), PortRange(1812), PortRange(30000, 32767)])
        #expect(ReservedPortsValue.encode(set) == "873,1812-1813,30000-32767\n")
        #expect(ReservedPortsValue.encode(PortSet()) == "\n")
    }

    @Test(arguments: [
        ("\n", ""),
        ("", ""),
        ("10-25\n", "10-25"),
        ("10-20,15-25,20", "10-25"),
        ("1,2,3,", "1-3"),
        ("1\n2\n", "1-2"),
        ("0", "0"),
        ("65535", "65535"),
    ])
    func decodesKernelGrammar(text: String, expected: String) throws {
        #expect(try ReservedPortsValue.decode(text).description == expected)
    }

    @Test(arguments: [
        ("010", 1, "leading zero"),       // the kernel reads octal 8
        ("08", 1, "leading zero"),
        ("0x50", 2, "unexpected character"),
        ("1,,2", 3, "empty item"),
        ("80-", 4, "expected a port number"),
        ("-5", 1, "expected a port number"),
        ("100-90", 1, "reversed range"),
        ("65536", 1, "out of range"),
        ("1-2-3", 4, "unexpected character"),
        ("1 2", 2, "unexpected character"),
        ("abc", 1, "expected a port number"),
    ])
    func rejectsWhatTheKernelRejects(text: String, column: Int, reason: String) {
        #expect {
            _ = try ReservedPortsValue.decode(text)
        } throws: { error in
            guard let error = error as? ReservedPortsValue.DecodeError else { return false }
            return error.column == column && error.reason.contains(reason)
        }
    }

    @Test func scatteredPortsPastFourKilobytesRoundTrip() throws {
        // 65,000 scattered ports: far past one 4,095-byte kernel write.
        var set = PortSet()
        var x: UInt32 = 12345
        while set.count < 65_000 {
            x = x &* 1_103_515_245 &+ 12345
            set.insert(UInt16(truncatingIfNeeded: x >> 8))
        }
        let text = ReservedPortsValue.encode(set)
        #expect(text.utf8.count > 4095)
        #expect(!text.contains(",0") && !text.contains("-0"))
        #expect(try ReservedPortsValue.decode(text) == set)
    }

    @Test(arguments: [("32768\t60999\n", PortRange(32768, 60999)), ("1024 65535", PortRange(1024, 65535))])
    func localPortRange(text: String, expected: PortRange) {
        #expect(LocalPortRangeValue.decode(text) == expected)
    }

    @Test func localPortRangeRejectsGarbage() {
        #expect(LocalPortRangeValue.decode("60999 32768") == nil)
        #expect(LocalPortRangeValue.decode("1") == nil)
    }
}
