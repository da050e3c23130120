import Foundation
import Testing
@testable import PortwardCore

/// `JSON` must write exactly what Foundation's JSONEncoder wrote before it replaced it
/// (the state file, daemon.json and `status --json` keep their bytes), and read it back.
struct JSONTests {
    struct Inner: Codable, Equatable {
        var list: [Int]
        var map: [String: Int]
        var note: String?
        var port: UInt16
    }

    struct Sample: Codable, Equatable {
        var text: String
        var a10: Int
        var a9: Double
        var B: Bool
        var inner: [Inner]
        var empty: [Int]
        var big: UInt64
        var negative: Int32
        var missing: Int?
        var transport: TransportProtocol
        var nested: [[String]]
        var doubles: [Double]
    }

    static let samples: [Sample] = [
        Sample(text: "x/y\"\\\n\t\u{01}\u{1f}\u{7f}\u{08}\u{0c}\r é😀", a10: 1, a9: 1.5, B: true,
               inner: [Inner(list: [], map: [:], note: nil, port: 7),
                       Inner(list: [1, 2], map: ["k": 1, "K": 2, "a b": 3], note: "q", port: 65_535)],
               empty: [], big: .max, negative: -5, missing: nil, transport: .udp,
               nested: [[], ["a"], []], doubles: [0.1, 1e-7, 123_456_789_012_345_680, 0.000123, -0.0, 100, 1e16, 1_764_400_000.123456]),
        Sample(text: "", a10: .min, a9: 0, B: false, inner: [], empty: [], big: 0, negative: .max, missing: 3,
               transport: .tcp, nested: [], doubles: []),
    ]

    @Test(arguments: samples, [false, true])
    func writesWhatFoundationWrote(sample: Sample, pretty: Bool) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
                                          : [.sortedKeys, .withoutEscapingSlashes]
        let foundation = Array(try encoder.encode(sample))
        let ours = try JSON.encode(sample, pretty: pretty)
        #expect(String(decoding: ours, as: UTF8.self) == String(decoding: foundation, as: UTF8.self))
        #expect(try JSON.decode(Sample.self, from: foundation) == sample)
    }

    @Test func readsEscapesAndWhitespace() throws {
        let text = " [ \"\\ud83d\\ude00\\u00e9\\/\\\"\" , \"\\n\" ]\n"
        #expect(try JSON.decode([String].self, from: Array(text.utf8)) == ["😀é/\"", "\n"])
    }

    @Test(arguments: ["", "{", "{\"a\":}", "[1,]", "[01]", "[\"\\x\"]", "[] x", "[\"\u{01}\"]", "[nul]",
                      "[\"\\ud800\"]", "[1.]", "[-]", "[1e]"])
    func rejectsMalformedText(text: String) {
        #expect(throws: DecodingError.self) { try JSON.decode([Int].self, from: Array(text.utf8)) }
    }

    @Test func rejectsValuesThatDoNotFit() {
        #expect(throws: DecodingError.self) {
            try JSON.decode(Inner.self, from: Array("{\"list\":[],\"map\":{},\"port\":70000}".utf8))
        }
        #expect(throws: DecodingError.self) {
            try JSON.decode(Inner.self, from: Array("{\"list\":[],\"map\":{}}".utf8))  // no port
        }
        #expect(throws: DecodingError.self) {
            try JSON.decode(Inner.self, from: Array("{\"list\":\"x\",\"map\":{},\"port\":1}".utf8))
        }
    }

    @Test func refusesNonFiniteNumbers() {
        #expect(throws: EncodingError.self) { try JSON.encode([Double.nan]) }
        #expect(throws: EncodingError.self) { try JSON.encode([Double.infinity]) }
    }

    @Test func roundTripsTheDaemonView() throws {
        var view = DaemonView(pid: 812, startedAt: 1_764_400_000.25, interval: 0.5)
        view.lastPollAt = 1_764_400_001.5
        view.declaredPorts = "873,1812-1813"
        view.pollError = "sock_diag: EPERM"
        view.drift = [.init(at: 1_764_400_002, lost: "873", restored: "873")]
        #expect(try JSON.decode(DaemonView.self, from: JSON.encode(view)) == view)
    }
}
