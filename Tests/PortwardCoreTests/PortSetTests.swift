import Testing
@testable import PortwardCore

@Suite struct PortSetTests {
    @Test func emptySetHasNoRanges() {
        #expect(PortSet().isEmpty)
        #expect(PortSet().ranges.isEmpty)
        #expect(PortSet().count == 0)
    }

    @Test(arguments: [
        ([PortRange(1, 3), PortRange(4, 4), PortRange(6, 8)], "1-4,6-8"),
        ([PortRange(63, 64)], "63-64"),
        ([PortRange(0, 65535)], "0-65535"),
        ([PortRange(65535)], "65535"),
        ([PortRange(0)], "0"),
        ([PortRange(100, 200), PortRange(150, 300)], "100-300"),
        ([PortRange(128, 191)], "128-191"),
        ([PortRange(127, 192)], "127-192"),
    ])
    func rangesAreSortedMergedAndMaximal(input: [PortRange], expected: String) {
        #expect(PortSet(ranges: input).description == expected)
    }

    @Test func countMatchesRanges() {
        let set = PortSet(ranges: [PortRange(30000, 32767), PortRange(1812, 1813)])
        #expect(set.count == 2770)
        #expect(PortSet(ranges: [PortRange(0, 65535)]).count == 65536)
    }

    @Test func algebra() {
        let a = PortSet(ranges: [PortRange(10, 20)])
        let b = PortSet(ranges: [PortRange(15, 25)])
        #expect(a.union(b).description == "10-25")
        #expect(a.intersection(b).description == "15-20")
        #expect(a.subtracting(b).description == "10-14")
        #expect(b.subtracting(a).description == "21-25")
        #expect(a.intersection(b).isSubset(of: a))
        #expect(!a.isSubset(of: b))
        #expect(a.subtracting(b).isDisjoint(with: b))
    }

    @Test func insertRemoveContains() {
        var set = PortSet()
        set.insert(873)
        set.insert(PortRange(1812, 1813))
        #expect(set.contains(873))
        #expect(set.contains(PortRange(1812, 1813)))
        #expect(!set.contains(PortRange(1811, 1813)))
        set.remove(1812)
        #expect(set.description == "873,1813")
        #expect(Array(set) == [873, 1813])
    }

    @Test func everyOddPortRoundTrips() {
        let odd = PortSet(stride(from: UInt16(1), through: 65535, by: 2))
        #expect(odd.count == 32768)
        #expect(odd.ranges.count == 32768)
        #expect(PortSet(ranges: odd.ranges) == odd)
    }
}
