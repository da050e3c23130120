import PortwardCore
import Testing

/// The `__u16` at `offset`, host byte order, as the kernel reads `inet_diag_bc_op.no`.
private func hostU16(_ bc: [UInt8], _ offset: Int) -> Int {
    Int(bc.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset, as: UInt16.self) })
}

/// A model of the kernel's `inet_diag_bc_run` (net/ipv4/inet_diag.c) for the ops the filter
/// uses: returns true when the program accepts a socket with source port `port`.
private func kernelRun(_ bc: [UInt8], sourcePort port: UInt16) -> Bool {
    var offset = 0
    var len = bc.count
    var steps = 0
    while len > 0 {
        steps += 1
        precondition(steps <= bc.count, "program loops")
        let code = bc[offset]
        let yes = Int(bc[offset + 1])
        let no = hostU16(bc, offset + 2)
        let holds: Bool
        switch code {
        case 0: holds = true  // NOP
        case 1: holds = false  // JMP
        case 2, 3:
            let operandNo = hostU16(bc, offset + 6)
            holds = code == 2 ? Int(port) >= operandNo : Int(port) <= operandNo
        default: preconditionFailure("unexpected op code \(code)")
        }
        let step = holds ? yes : no
        len -= step
        offset += step
    }
    return len == 0
}

/// A model of `valid_cc`: true when `cc` (bytes remaining at the target) is on the chain of
/// yes steps from the start.
private func kernelValidCC(_ bc: [UInt8], _ total: Int, _ cc: Int) -> Bool {
    var len = total, offset = 0
    while len >= 0 {
        if cc > len { return false }
        if cc == len { return true }
        let yes = Int(bc[offset + 1])
        if yes < 4 || yes & 3 != 0 { return false }
        len -= yes
        offset += yes
    }
    return false
}

/// A model of `inet_diag_bc_audit` restricted to NOP, JMP, S_GE, S_LE: true when the kernel
/// would accept the program.
private func kernelAudit(_ bc: [UInt8]) -> Bool {
    guard bc.count >= 4, bc.count <= 65_531 else { return false }
    var len = bc.count, offset = 0
    while len > 0 {
        guard len >= 4 else { return false }
        let code = bc[offset]
        let yes = Int(bc[offset + 1])
        let no = hostU16(bc, offset + 2)
        var minLen = 4
        switch code {
        case 2, 3:
            minLen = 8
            if len < minLen { return false }
        case 0, 1: break
        default: return false
        }
        if code != 0 {
            if no < minLen || no > len + 4 || no & 3 != 0 { return false }
            if no < len && !kernelValidCC(bc, bc.count, len - no) { return false }
        }
        if yes < minLen || yes > len + 4 || yes & 3 != 0 { return false }
        offset += yes
        len -= yes
    }
    return len == 0
}

private func r(_ lo: UInt16, _ hi: UInt16) -> PortRange { PortRange(lo, hi) }

/// Checks the program against the expected set over all 65,536 ports.
private func expectMatchesExactly(_ filter: InetDiagFilter, _ expected: PortSet,
                                  sourceLocation: Testing.SourceLocation = #_sourceLocation) {
    #expect(kernelAudit(filter.bytecode), "kernel would reject the program",
            sourceLocation: sourceLocation)
    var wrong: [UInt16] = []
    for p in 0...65_535 {
        let port = UInt16(p)
        if kernelRun(filter.bytecode, sourcePort: port) != expected.contains(port) {
            wrong.append(port)
            if wrong.count >= 10 { break }
        }
    }
    #expect(wrong.isEmpty, "ports misjudged: \(wrong)", sourceLocation: sourceLocation)
}

/// Deterministic generator (SplitMix64) for the random cases.
private struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

@Suite struct InetDiagFilterTests {
    static let cases: [(String, [PortRange])] = [
        ("one range", [r(1812, 1813)]),
        ("single port", [r(873, 873)]),
        ("single ports", [r(22, 22), r(80, 80), r(443, 443), r(65_535, 65_535)]),
        ("port 0 and 1", [r(0, 0), r(1, 1)]),
        ("disjoint", [r(100, 200), r(300, 400), r(1000, 1000), r(5000, 6000), r(60_000, 60_001)]),
        ("adjacent", [r(10, 20), r(21, 30), r(31, 31)]),
        ("overlapping unsorted", [r(500, 900), r(100, 600), r(2000, 2000), r(1999, 2001)]),
        ("full declared range", [r(1, 65_535)]),
        ("whole port space", [r(0, 65_535)]),
        ("top edge", [r(65_534, 65_535)]),
        ("two ranges", [r(1, 1), r(65_535, 65_535)]),
        ("three ranges", [r(10, 10), r(20, 30), r(40, 40)]),
    ]

    @Test(arguments: cases)
    func matchesExactlyTheRanges(name: String, ranges: [PortRange]) {
        let filter = InetDiagFilter(sourcePorts: ranges)
        let expected = PortSet(ranges: ranges)
        #expect(filter.isExact)
        #expect(filter.ranges == expected.ranges)
        #expect(filter.bytecode.count == InetDiagFilter.bytesPerRange * expected.ranges.count)
        expectMatchesExactly(filter, expected)
        for p in [0, 1, 872, 873, 874, 1812, 1813, 65_535] as [UInt16] {
            #expect(filter.matches(p) == expected.contains(p))
        }
    }

    @Test func emptyRangeListRejectsEverything() {
        let filter = InetDiagFilter(sourcePorts: [PortRange]())
        #expect(filter.ranges.isEmpty)
        #expect(filter.bytecode.count == 4)
        expectMatchesExactly(filter, PortSet())
    }

    @Test func randomRangeListsOfManySizes() {
        var rng = SplitMix64(state: 42)
        for count in [4, 5, 7, 16, 33, 100, 257] {
            var ranges: [PortRange] = []
            for _ in 0..<count {
                let lo = UInt16.random(in: 0...65_535, using: &rng)
                let width = UInt16.random(in: 0...40, using: &rng)
                ranges.append(r(lo, UInt16(min(Int(lo) + Int(width), 65_535))))
            }
            let expected = PortSet(ranges: ranges)
            let filter = InetDiagFilter(sourcePorts: ranges)
            #expect(filter.isExact)
            expectMatchesExactly(filter, expected)
        }
    }

    @Test func layoutOfOneRangeIsTheDocumentedOps() {
        let filter = InetDiagFilter(sourcePorts: [r(1812, 1813)])
        func host16(_ v: UInt16) -> [UInt8] { withUnsafeBytes(of: v) { Array($0) } }
        // [S_GE yes=8 no=->end+4][1812][S_LE yes=8 no=->end+4][1813][JMP yes=4 no=->end]
        let expected: [UInt8] = [2, 8] + host16(24) + [0, 0] + host16(1812)
            + [3, 8] + host16(16) + [0, 0] + host16(1813)
            + [1, 4] + host16(4)
        #expect(filter.bytecode == expected)
    }

    @Test func mostRangesThatFitAreExactAndAccepted() {
        // Every other port from 2: 3,276 single-port ranges, the maximum.
        let ports = (0..<InetDiagFilter.maximumRangeCount).map { UInt16(2 + 2 * $0) }
        let expected = PortSet(ports)
        let filter = InetDiagFilter(sourcePorts: expected)
        #expect(filter.isExact)
        #expect(filter.bytecode.count <= InetDiagFilter.maximumBytecodeLength)
        expectMatchesExactly(filter, expected)
    }

    @Test func tooManyRangesAreCoalescedAcrossTheSmallestGaps() {
        // Every odd port: 32,768 ranges, far past the limit.
        let odd = PortSet((0..<32_768).map { UInt16(2 * $0 + 1) })
        let filter = InetDiagFilter(sourcePorts: odd)
        #expect(!filter.isExact)
        #expect(filter.ranges.count == InetDiagFilter.maximumRangeCount)
        #expect(filter.bytecode.count <= InetDiagFilter.maximumBytecodeLength)
        #expect(odd.isSubset(of: PortSet(ranges: filter.ranges)))
        expectMatchesExactly(filter, PortSet(ranges: filter.ranges))
    }

    @Test func coalescingKeepsTheWidestGaps() {
        let ranges = [r(10, 10), r(12, 12), r(100, 100), r(103, 103), r(1000, 1000)]
        let filter = InetDiagFilter(sourcePorts: ranges, maximumRangeCount: 3)
        #expect(!filter.isExact)
        #expect(filter.ranges == [r(10, 12), r(100, 103), r(1000, 1000)])
        expectMatchesExactly(filter, PortSet(ranges: filter.ranges))
        let one = InetDiagFilter(sourcePorts: ranges, maximumRangeCount: 1)
        #expect(one.ranges == [r(10, 1000)])
    }
}
