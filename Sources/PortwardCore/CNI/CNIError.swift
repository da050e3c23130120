import FoundationEssentials

/// A CNI error result (CNI spec 1.x, section 5 "Error"): printed as JSON on stdout, with a
/// non-zero exit status.
public struct CNIError: Error, Equatable, Sendable, CustomStringConvertible {
    /// 1-99: the spec's well-known codes (constants below); 100+: portward's own.
    public let code: Int
    /// Short message.
    public let msg: String
    /// Longer explanation (may be empty; then omitted from the JSON).
    public let details: String

    public init(code: Int, msg: String, details: String = "") {
        self.code = code
        self.msg = msg
        self.details = details
    }

    // The spec's codes.
    public static let incompatibleVersion = 1
    public static let unsupportedField = 2
    public static let containerUnknown = 3
    public static let invalidEnvironment = 4
    public static let ioFailure = 5
    public static let decodingFailure = 6
    public static let invalidConfig = 7
    public static let tryAgainLater = 11
    // portward's codes (100+).
    /// The namespace in CNI_NETNS cannot be opened or entered.
    public static let netnsUnavailable = 100
    /// Reading or writing ip_local_reserved_ports in the namespace failed.
    public static let sysctlFailed = 101
    /// CHECK: ports that should be reserved in the namespace are not.
    public static let portsMissing = 102
    /// ADD, CHECK: portward's configuration (/etc/portward) has errors, or cannot be read:
    /// nothing was changed.
    public static let configurationInvalid = 103

    public var description: String { details.isEmpty ? msg : "\(msg): \(details)" }

    private struct Wire: Encodable {
        let cniVersion: String
        let code: Int
        let msg: String
        let details: String?
    }

    /// The error object: `{"cniVersion":…,"code":…,"details":…,"msg":…}` (keys sorted,
    /// `details` omitted when empty), with a trailing newline.
    public func render(cniVersion: String) -> String {
        CNIJSON.encode(Wire(cniVersion: cniVersion, code: code, msg: msg, details: details.isEmpty ? nil : details))
    }
}

enum CNIJSON {
    static func encode(_ value: some Encodable) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding strings, ints and arrays of them cannot fail.
        let data = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self) + "\n"
    }
}
