import Foundation
import PortwardCore
import Testing

/// Replays every input kept in Tests/Fuzz/regressions/<fuzzer>/ (crashes found by the
/// libFuzzer harnesses in Tests/Fuzz, plus edge cases) through the same code and invariants
/// as the harnesses, so a regression shows up in a plain `swift test`.
@Suite struct FuzzRegressionTests {
    static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fuzz/regressions")

    static func inputs(_ fuzzer: String) -> [String] {
        let dir = directory.appendingPathComponent(fuzzer).path
        return ((try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []).sorted().map { dir + "/" + $0 }
    }

    @Test func regressionInputsExist() {
        #expect(!Self.inputs("config").isEmpty)
        #expect(!Self.inputs("value").isEmpty)
    }

    @Test(arguments: inputs("config"))
    func configParserSurvives(_ path: String) throws {
        let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        let files = bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false)
            .split { Array($0) == Array("---".utf8) }
            .map { lines in Array(lines.map(Array.init).joined(separator: [UInt8(ascii: "\n")])) }
        var results: [ConfigParser.Result] = []
        for (n, file) in files.enumerated() {
            let result = ConfigParser.parse(file, file: "\(n).conf") { name, _ in name == "rsync" ? 873 : nil }
            for diagnostic in result.diagnostics {
                #expect((diagnostic.location?.line ?? 1) >= 1 && (diagnostic.location?.column ?? 1) >= 1)
                #expect(!diagnostic.description.contains("\n"))
            }
            for parsed in result.entries {
                #expect(!parsed.entry.ports.isEmpty && !parsed.entry.ports.contains(0))
                #expect(try ReservedPortsValue.decode(ReservedPortsValue.encode(parsed.entry.ports)) == parsed.entry.ports)
            }
            results.append(result)
        }
        let (configuration, _) = Configuration.merge(results)
        let current = PortSet([1, 2, 65535])
        let plan = Planner.plan(configuration: configuration, current: current, previous: ReservationState(),
                                localPortRange: PortRange(32768, 60999))
        #expect(current.isSubset(of: plan.target))
    }

    @Test(arguments: inputs("value"))
    func valueDecoderSurvives(_ path: String) throws {
        let text = String(decoding: try Data(contentsOf: URL(fileURLWithPath: path)), as: UTF8.self)
        if let set = try? ReservedPortsValue.decode(text) {
            #expect(try ReservedPortsValue.decode(ReservedPortsValue.encode(set)) == set)
        }
        _ = LocalPortRangeValue.decode(text)
    }
}
