import FoundationEssentials

/// `CNI_COMMAND` values (CNI spec 1.1; STATUS and GC are 1.1 additions).
public enum CNICommand: String, Sendable, CaseIterable {
    case add = "ADD", del = "DEL", check = "CHECK", version = "VERSION", status = "STATUS", gc = "GC"
}

/// The protocol parameters of one plugin invocation, from the environment (CNI spec,
/// section 2 "Parameters").
public struct CNIEnvironment: Equatable, Sendable {
    public let command: CNICommand
    public let containerID: String?
    /// `CNI_NETNS`: a path to the network namespace (e.g. `/run/netns/cni-…`).
    public let netns: String?
    public let ifname: String?
    /// `CNI_ARGS`, unparsed (`K=V;K=V`).
    public let args: String?
    /// `CNI_PATH` split at `:` (empty components dropped).
    public let path: [String]

    /// Parses and validates `environment`. Required per command (spec): ADD and CHECK need
    /// CNI_CONTAINERID, CNI_NETNS and CNI_IFNAME; DEL needs CNI_CONTAINERID and CNI_IFNAME;
    /// VERSION, STATUS and GC need only CNI_COMMAND. CNI_CONTAINERID must match
    /// `[A-Za-z0-9][A-Za-z0-9_.-]*`; CNI_IFNAME must be a valid Linux interface name (1-15
    /// bytes, no `/`, `:` or whitespace, not `.` or `..`). Throws `CNIError` code 4 naming
    /// the variables.
    public static func parse(_ environment: [String: String]) throws(CNIError) -> CNIEnvironment {
        guard let raw = environment["CNI_COMMAND"], !raw.isEmpty else {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "required environment variables missing",
                           details: "CNI_COMMAND")
        }
        guard let command = CNICommand(rawValue: raw) else {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "invalid environment variables",
                           details: "CNI_COMMAND: unknown command \(raw.debugDescription)")
        }
        let required: [String] = switch command {
        case .add, .check: ["CNI_CONTAINERID", "CNI_NETNS", "CNI_IFNAME"]
        case .del: ["CNI_CONTAINERID", "CNI_IFNAME"]
        case .version, .status, .gc: []
        }
        let missing = required.filter { (environment[$0] ?? "").isEmpty }
        guard missing.isEmpty else {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "required environment variables missing",
                           details: missing.joined(separator: ", "))
        }
        let value = { (name: String) -> String? in environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        if let id = value("CNI_CONTAINERID"), !Self.isValidContainerID(id), required.contains("CNI_CONTAINERID") {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "invalid environment variables",
                           details: "CNI_CONTAINERID: \(id.debugDescription) must start with a letter or digit followed by letters, digits, '_', '.' or '-'")
        }
        if let name = value("CNI_IFNAME"), !Self.isValidInterfaceName(name), required.contains("CNI_IFNAME") {
            throw CNIError(code: CNIError.invalidEnvironment, msg: "invalid environment variables",
                           details: "CNI_IFNAME: \(name.debugDescription) is not a valid interface name")
        }
        return CNIEnvironment(
            command: command, containerID: value("CNI_CONTAINERID"), netns: value("CNI_NETNS"),
            ifname: value("CNI_IFNAME"), args: value("CNI_ARGS"),
            path: (value("CNI_PATH") ?? "").split(separator: ":").map(String.init))
    }

    static func isValidContainerID(_ id: String) -> Bool {
        let bytes = Array(id.utf8)
        let alnum = { (b: UInt8) in (48...57).contains(b) || (65...90).contains(b) || (97...122).contains(b) }
        guard let first = bytes.first, alnum(first) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-") }
    }

    static func isValidInterfaceName(_ name: String) -> Bool {
        let bytes = Array(name.utf8)
        guard (1...15).contains(bytes.count), name != ".", name != ".." else { return false }
        return !bytes.contains { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: ":") || $0 <= 32 || $0 == 127 }
    }
}

/// The network configuration a runtime sends on stdin (CNI spec, sections 1 and 3:
/// the plugin configuration object with `cniVersion`, `name`, `type`, and `prevResult`
/// inserted by the runtime). Fields portward does not use are ignored.
public struct CNINetworkConfig: Equatable, Sendable {
    public let cniVersion: String
    public let name: String?
    public let type: String?
    /// The exact JSON text of `prevResult` as received (passed through byte for byte), or
    /// nil when absent or `null`.
    public let prevResult: String?

    /// Parses `bytes`. Throws `CNIError` code 6 when it is not JSON or not an object, 7
    /// when `cniVersion` is missing or not a string, `name`/`type` are not strings, or
    /// `prevResult` is not an object.
    public static func parse(_ bytes: [UInt8]) throws(CNIError) -> CNINetworkConfig {
        let root: JSONValue
        do { root = try JSONDecoder().decode(JSONValue.self, from: Data(bytes)) } catch {
            throw CNIError(code: CNIError.decodingFailure, msg: "cannot decode the network configuration",
                           details: bytes.isEmpty ? "stdin is empty" : "not valid JSON")
        }
        guard case .object(let members) = root else {
            throw CNIError(code: CNIError.decodingFailure, msg: "cannot decode the network configuration",
                           details: "the configuration is not a JSON object")
        }
        guard case .string(let version)? = members["cniVersion"], !version.isEmpty else {
            throw CNIError(code: CNIError.invalidConfig, msg: "invalid network configuration",
                           details: "cniVersion is missing or not a string")
        }
        func optionalString(_ key: String) throws(CNIError) -> String? {
            switch members[key] {
            case nil, .null?: return nil
            case .string(let s)?: return s
            default:
                throw CNIError(code: CNIError.invalidConfig, msg: "invalid network configuration",
                               details: "\(key) is not a string")
            }
        }
        let name = try optionalString("name"), type = try optionalString("type")
        var prevResult: String?
        switch members["prevResult"] {
        case nil, .null?: prevResult = nil
        case .object?: prevResult = RawJSON.topLevelMember("prevResult", in: bytes)
        default:
            throw CNIError(code: CNIError.invalidConfig, msg: "invalid network configuration",
                           details: "prevResult is not an object")
        }
        return CNINetworkConfig(cniVersion: version, name: name, type: type, prevResult: prevResult)
    }
}

/// Any JSON value (for validation; numbers are not kept exactly).
enum JSONValue: Decodable, Equatable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if c.decodeNil() { self = .null }
        else if let b = try? c.decode(Bool.self) { self = .bool(b) }
        else if let n = try? c.decode(Double.self) { self = .number(n) }
        else if let s = try? c.decode(String.self) { self = .string(s) }
        else if let a = try? c.decode([JSONValue].self) { self = .array(a) }
        else { self = .object(try c.decode([String: JSONValue].self)) }
    }
}

/// Locating a member's raw text in a JSON document already known to be valid.
enum RawJSON {
    /// The exact text of the value of top-level member `key` (the last one if repeated, as
    /// JSONDecoder keeps), or nil.
    static func topLevelMember(_ key: String, in bytes: [UInt8]) -> String? {
        var i = 0
        skipSpace(bytes, &i)
        guard i < bytes.count, bytes[i] == UInt8(ascii: "{") else { return nil }
        i += 1
        var found: String?
        while true {
            skipSpace(bytes, &i)
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { return found }
            let keyStart = i
            skipValue(bytes, &i)
            let keyText = Array(bytes[keyStart..<i])
            let name = try? JSONDecoder().decode(String.self, from: Data(keyText))
            skipSpace(bytes, &i)
            i += 1 // ':'
            skipSpace(bytes, &i)
            let valueStart = i
            skipValue(bytes, &i)
            if name == key { found = String(decoding: bytes[valueStart..<i], as: UTF8.self) }
            skipSpace(bytes, &i)
            guard i < bytes.count, bytes[i] == UInt8(ascii: ",") else { return found }
            i += 1
        }
    }

    private static func skipSpace(_ b: [UInt8], _ i: inout Int) {
        while i < b.count, b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D { i += 1 }
    }

    private static func skipValue(_ b: [UInt8], _ i: inout Int) {
        guard i < b.count else { return }
        switch b[i] {
        case UInt8(ascii: "\""):
            i += 1
            while i < b.count, b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
            i += 1
        case UInt8(ascii: "{"), UInt8(ascii: "["):
            var depth = 0
            repeat {
                switch b[i] {
                case UInt8(ascii: "\""):
                    skipValue(b, &i)
                    continue
                case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                case UInt8(ascii: "}"), UInt8(ascii: "]"): depth -= 1
                default: break
                }
                i += 1
            } while i < b.count && depth > 0
        default:
            while i < b.count, ![UInt8(ascii: ","), UInt8(ascii: "}"), UInt8(ascii: "]"), 0x20, 0x09, 0x0A, 0x0D].contains(b[i]) {
                i += 1
            }
        }
    }
}
