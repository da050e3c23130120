/// JSON text (RFC 8259) for `Codable` values, without Foundation: the state file, the
/// daemon's view and `status --json`.
///
/// Output is byte-for-byte what Foundation's `JSONEncoder` writes with
/// `[.sortedKeys, .withoutEscapingSlashes]` (plus `.prettyPrinted` when `pretty`): keys
/// sorted by `String` order, `"key" : value` and two-space indentation when pretty, an empty
/// container as `[\n\n]` / `{\n\n}` when pretty, `"/"` not escaped, control characters as
/// `\n \r \t \b \f` or `\u00XX`, integers in decimal, a `Double` as its shortest
/// round-trip text without a trailing `.0` (`2`, `1.5`, `1e-07`); `nil` optionals are left
/// out. Dropping Foundation keeps the static binary about 7 MB smaller and start-up cheaper
/// (BENCHMARKS.md).
///
/// Decoding accepts any JSON text (UTF-8, whitespace anywhere between tokens) and throws
/// `DecodingError` for malformed text (`.dataCorrupted`, naming the byte offset) or a shape
/// that does not fit the type (`.typeMismatch`, `.keyNotFound`, `.valueNotFound`).
public enum JSON {
    /// The UTF-8 JSON text of `value`. Throws `EncodingError.invalidValue` for a non-finite
    /// floating-point number, or what `value.encode(to:)` throws.
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = false) throws -> [UInt8] {
        let node = Node()
        try value.encode(to: NodeEncoder(node: node, codingPath: []))
        var writer = Writer(pretty: pretty)
        writer.write(node, depth: 0)
        return writer.bytes
    }

    /// Decodes a `T` from UTF-8 JSON text.
    public static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws -> T {
        var parser = Parser(bytes: bytes)
        let value = try parser.document()
        return try T(from: ValueDecoder(value: value, codingPath: []))
    }
}

// MARK: - Encoding

/// One encoded value; containers hold their children by reference, so nested containers
/// can be filled after they were handed out (as `Encoder` requires).
private final class Node {
    enum Content {
        case unset
        case scalar([UInt8])  // the JSON text of a null, boolean, number or string
        case array([Node])
        case object([String: Node])
    }

    var content: Content = .unset

    func makeArray() {
        if case .array = content { return }
        content = .array([])
    }

    func makeObject() {
        if case .object = content { return }
        content = .object([:])
    }

    func append(_ child: Node) {
        if case .array(var children) = content {
            content = .unset
            children.append(child)
            content = .array(children)
        }
    }

    func set(_ key: String, _ child: Node) {
        if case .object(var children) = content {
            content = .unset
            children[key] = child
            content = .object(children)
        }
    }
}

private struct Writer {
    let pretty: Bool
    var bytes: [UInt8] = []

    init(pretty: Bool) {
        self.pretty = pretty
        bytes.reserveCapacity(4096)
    }

    mutating func write(_ node: Node, depth: Int) {
        switch node.content {
        case .unset:
            bytes += Array("{}".utf8)  // an Encodable that encoded nothing, as Foundation writes it
        case .scalar(let text):
            bytes += text
        case .array(let children):
            open(UInt8(ascii: "["), empty: children.isEmpty, depth: depth)
            for (i, child) in children.enumerated() {
                separator(first: i == 0, depth: depth + 1)
                write(child, depth: depth + 1)
            }
            close(UInt8(ascii: "]"), depth: depth)
        case .object(let children):
            open(UInt8(ascii: "{"), empty: children.isEmpty, depth: depth)
            for (i, key) in children.keys.sorted().enumerated() {
                separator(first: i == 0, depth: depth + 1)
                JSON.appendString(key, to: &bytes)
                bytes += pretty ? Array(" : ".utf8) : [UInt8(ascii: ":")]
                write(children[key]!, depth: depth + 1)
            }
            close(UInt8(ascii: "}"), depth: depth)
        }
    }

    private mutating func open(_ bracket: UInt8, empty: Bool, depth: Int) {
        bytes.append(bracket)
        if pretty && empty { bytes.append(UInt8(ascii: "\n")) }
    }

    private mutating func separator(first: Bool, depth: Int) {
        if !first { bytes.append(UInt8(ascii: ",")) }
        if pretty { newline(depth) }
    }

    private mutating func close(_ bracket: UInt8, depth: Int) {
        if pretty { newline(depth) }
        bytes.append(bracket)
    }

    private mutating func newline(_ depth: Int) {
        bytes.append(UInt8(ascii: "\n"))
        bytes += repeatElement(UInt8(ascii: " "), count: 2 * depth)
    }
}

extension JSON {
    /// Appends `string` as a quoted JSON string.
    fileprivate static func appendString(_ string: String, to bytes: inout [UInt8]) {
        let hex = Array("0123456789abcdef".utf8)
        bytes.append(UInt8(ascii: "\""))
        for byte in string.utf8 {
            switch byte {
            case UInt8(ascii: "\""): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\"")]
            case UInt8(ascii: "\\"): bytes += [UInt8(ascii: "\\"), UInt8(ascii: "\\")]
            case 0x0A: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0x08: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "b")]
            case 0x0C: bytes += [UInt8(ascii: "\\"), UInt8(ascii: "f")]
            case 0..<0x20:
                bytes += Array("\\u00".utf8)
                bytes += [hex[Int(byte >> 4)], hex[Int(byte & 0xF)]]
            default: bytes.append(byte)
            }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    fileprivate static func scalar(_ string: String) -> [UInt8] {
        var bytes: [UInt8] = []
        appendString(string, to: &bytes)
        return bytes
    }

    fileprivate static func scalar<F: BinaryFloatingPoint & LosslessStringConvertible>(
        _ value: F, _ codingPath: [any CodingKey]
    ) throws -> [UInt8] {
        guard value.isFinite else {
            throw EncodingError.invalidValue(value, .init(codingPath: codingPath,
                                                          debugDescription: "\(value) is not valid in JSON"))
        }
        var text = value.description
        if text.hasSuffix(".0") { text.removeLast(2) }
        return Array(text.utf8)
    }
}

private struct NodeEncoder: Encoder {
    let node: Node
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
        node.makeObject()
        return KeyedEncodingContainer(KeyedEncoder<Key>(node: node, codingPath: codingPath))
    }

    func unkeyedContainer() -> any UnkeyedEncodingContainer {
        node.makeArray()
        return UnkeyedEncoder(node: node, codingPath: codingPath)
    }

    func singleValueContainer() -> any SingleValueEncodingContainer {
        SingleValueEncoder(node: node, codingPath: codingPath)
    }
}

/// Where an integer key or index becomes part of a coding path.
private struct IndexKey: CodingKey {
    var stringValue: String
    var intValue: Int?
    init(stringValue: String) { self.stringValue = stringValue }
    init(intValue: Int) {
        stringValue = "Index \(intValue)"
        self.intValue = intValue
    }
}

private struct KeyedEncoder<Key: CodingKey>: KeyedEncodingContainerProtocol {
    let node: Node
    let codingPath: [any CodingKey]

    private func put(_ text: [UInt8], _ key: Key) {
        let child = Node()
        child.content = .scalar(text)
        node.set(key.stringValue, child)
    }

    mutating func encodeNil(forKey key: Key) throws { put(Array("null".utf8), key) }
    mutating func encode(_ value: Bool, forKey key: Key) throws { put(Array((value ? "true" : "false").utf8), key) }
    mutating func encode(_ value: String, forKey key: Key) throws { put(JSON.scalar(value), key) }
    mutating func encode(_ value: Double, forKey key: Key) throws { put(try JSON.scalar(value, codingPath + [key]), key) }
    mutating func encode(_ value: Float, forKey key: Key) throws { put(try JSON.scalar(value, codingPath + [key]), key) }
    mutating func encode(_ value: Int, forKey key: Key) throws { put(Array(String(value).utf8), key) }
    mutating func encode(_ value: Int8, forKey key: Key) throws { put(Array(String(value).utf8), key) }
    mutating func encode(_ value: Int16, forKey key: Key) throws { put(Array(String(value).utf8), key) }
    mutating func encode(_ value: Int32, forKey key: Key) throws { put(Array(String(value).utf8), key) }
    mutating func encode(_ value: Int64, forKey key: Key) throws { put(Array(String(value).utf8), key) }
    mutating func encode(_ value: UInt, forKey key: Key) throws { put(Array(String(value).utf8), key) }
    mutating func encode(_ value: UInt8, forKey key: Key) throws { put(Array(String(value).utf8), key) }
    mutating func encode(_ value: UInt16, forKey key: Key) throws { put(Array(String(value).utf8), key) }
    mutating func encode(_ value: UInt32, forKey key: Key) throws { put(Array(String(value).utf8), key) }
    mutating func encode(_ value: UInt64, forKey key: Key) throws { put(Array(String(value).utf8), key) }

    mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
        let child = Node()
        try value.encode(to: NodeEncoder(node: child, codingPath: codingPath + [key]))
        node.set(key.stringValue, child)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type,
                                                        forKey key: Key) -> KeyedEncodingContainer<NestedKey> {
        let child = Node()
        node.set(key.stringValue, child)
        return NodeEncoder(node: child, codingPath: codingPath + [key]).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
        let child = Node()
        node.set(key.stringValue, child)
        return NodeEncoder(node: child, codingPath: codingPath + [key]).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        superEncoder(forKey: Key(stringValue: "super")!)
    }

    mutating func superEncoder(forKey key: Key) -> any Encoder {
        let child = Node()
        node.set(key.stringValue, child)
        return NodeEncoder(node: child, codingPath: codingPath + [key])
    }
}

private struct UnkeyedEncoder: UnkeyedEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]
    var count: Int {
        if case .array(let children) = node.content { return children.count }
        return 0
    }

    private func put(_ text: [UInt8]) {
        let child = Node()
        child.content = .scalar(text)
        node.append(child)
    }

    private var nextPath: [any CodingKey] { codingPath + [IndexKey(intValue: count)] }

    mutating func encodeNil() throws { put(Array("null".utf8)) }
    mutating func encode(_ value: Bool) throws { put(Array((value ? "true" : "false").utf8)) }
    mutating func encode(_ value: String) throws { put(JSON.scalar(value)) }
    mutating func encode(_ value: Double) throws { put(try JSON.scalar(value, nextPath)) }
    mutating func encode(_ value: Float) throws { put(try JSON.scalar(value, nextPath)) }
    mutating func encode(_ value: Int) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: Int8) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: Int16) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: Int32) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: Int64) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt8) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt16) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt32) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt64) throws { put(Array(String(value).utf8)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        let child = Node()
        try value.encode(to: NodeEncoder(node: child, codingPath: nextPath))
        node.append(child)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
        let child = Node()
        let path = nextPath
        node.append(child)
        return NodeEncoder(node: child, codingPath: path).container(keyedBy: keyType)
    }

    mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
        let child = Node()
        let path = nextPath
        node.append(child)
        return NodeEncoder(node: child, codingPath: path).unkeyedContainer()
    }

    mutating func superEncoder() -> any Encoder {
        let child = Node()
        let path = nextPath
        node.append(child)
        return NodeEncoder(node: child, codingPath: path)
    }
}

private struct SingleValueEncoder: SingleValueEncodingContainer {
    let node: Node
    let codingPath: [any CodingKey]

    private func put(_ text: [UInt8]) { node.content = .scalar(text) }

    mutating func encodeNil() throws { put(Array("null".utf8)) }
    mutating func encode(_ value: Bool) throws { put(Array((value ? "true" : "false").utf8)) }
    mutating func encode(_ value: String) throws { put(JSON.scalar(value)) }
    mutating func encode(_ value: Double) throws { put(try JSON.scalar(value, codingPath)) }
    mutating func encode(_ value: Float) throws { put(try JSON.scalar(value, codingPath)) }
    mutating func encode(_ value: Int) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: Int8) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: Int16) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: Int32) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: Int64) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt8) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt16) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt32) throws { put(Array(String(value).utf8)) }
    mutating func encode(_ value: UInt64) throws { put(Array(String(value).utf8)) }

    mutating func encode<T: Encodable>(_ value: T) throws {
        try value.encode(to: NodeEncoder(node: node, codingPath: codingPath))
    }
}

// MARK: - Decoding

/// A parsed JSON value. Numbers keep their text so every integer width decodes exactly.
private indirect enum Value {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([Value])
    case object([String: Value])

    var kind: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .number: "a number"
        case .string: "a string"
        case .array: "an array"
        case .object: "an object"
        }
    }
}

private struct Parser {
    let bytes: [UInt8]
    var i = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func document() throws -> Value {
        let value = try parseValue(depth: 0)
        skipWhitespace()
        if i != bytes.count { throw corrupt("unexpected text after the JSON value") }
        return value
    }

    private func corrupt(_ message: String) -> DecodingError {
        .dataCorrupted(.init(codingPath: [], debugDescription: "invalid JSON at byte \(i): \(message)"))
    }

    private mutating func skipWhitespace() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    private mutating func expect(_ literal: String, _ value: Value) throws -> Value {
        let text = Array(literal.utf8)
        guard bytes.count - i >= text.count, Array(bytes[i..<i + text.count]) == text
        else { throw corrupt("expected \(literal)") }
        i += text.count
        return value
    }

    private mutating func parseValue(depth: Int) throws -> Value {
        if depth > 512 { throw corrupt("nested too deeply") }
        skipWhitespace()
        guard i < bytes.count else { throw corrupt("unexpected end of text") }
        switch bytes[i] {
        case UInt8(ascii: "n"): return try expect("null", .null)
        case UInt8(ascii: "t"): return try expect("true", .bool(true))
        case UInt8(ascii: "f"): return try expect("false", .bool(false))
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "["):
            i += 1
            var elements: [Value] = []
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(elements) }
            while true {
                elements.append(try parseValue(depth: depth + 1))
                skipWhitespace()
                guard i < bytes.count else { throw corrupt("unterminated array") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(elements) }
                throw corrupt("expected , or ]")
            }
        case UInt8(ascii: "{"):
            i += 1
            var members: [String: Value] = [:]
            skipWhitespace()
            if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
            while true {
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw corrupt("expected a key") }
                let key = try parseString()
                skipWhitespace()
                guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw corrupt("expected :") }
                i += 1
                members[key] = try parseValue(depth: depth + 1)
                skipWhitespace()
                guard i < bytes.count else { throw corrupt("unterminated object") }
                if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(members) }
                throw corrupt("expected , or }")
            }
        default:
            return .number(try parseNumber())
        }
    }

    private mutating func parseNumber() throws -> String {
        let start = i
        func digits() -> Int {
            let from = i
            while i < bytes.count, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9") { i += 1 }
            return i - from
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        let intStart = i
        let intDigits = digits()
        if intDigits == 0 || (intDigits > 1 && bytes[intStart] == UInt8(ascii: "0")) { throw corrupt("invalid number") }
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            i += 1
            if digits() == 0 { throw corrupt("invalid number") }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            if digits() == 0 { throw corrupt("invalid number") }
        }
        return String(decoding: bytes[start..<i], as: UTF8.self)
    }

    private mutating func hex4() throws -> UInt32 {
        guard bytes.count - i >= 4 else { throw corrupt("short \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let digit: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
            default: throw corrupt("bad \\u escape")
            }
            value = value << 4 | UInt32(digit)
            i += 1
        }
        return value
    }

    private mutating func parseString() throws -> String {
        i += 1  // opening quote
        var out: [UInt8] = []
        while true {
            guard i < bytes.count else { throw corrupt("unterminated string") }
            let b = bytes[i]
            i += 1
            switch b {
            case UInt8(ascii: "\""):
                guard let text = String(validating: out, as: UTF8.self) else { throw corrupt("invalid UTF-8 in string") }
                return text
            case UInt8(ascii: "\\"):
                guard i < bytes.count else { throw corrupt("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard bytes.count - i >= 2, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u")
                        else { throw corrupt("unpaired surrogate") }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw corrupt("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let unicode = Unicode.Scalar(scalar) else { throw corrupt("invalid \\u escape") }
                    out += Array(String(Character(unicode)).utf8)
                default: throw corrupt("unknown escape")
                }
            case 0..<0x20:
                throw corrupt("control character in string")
            default:
                out.append(b)
            }
        }
    }
}

private struct ValueDecoder: Decoder {
    let value: Value
    let codingPath: [any CodingKey]
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let members) = value else {
            throw DecodingError.typeMismatch([String: Any].self, .init(
                codingPath: codingPath, debugDescription: "expected an object, found \(value.kind)"))
        }
        return KeyedDecodingContainer(KeyedDecoder<Key>(members: members, codingPath: codingPath))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let elements) = value else {
            throw DecodingError.typeMismatch([Any].self, .init(
                codingPath: codingPath, debugDescription: "expected an array, found \(value.kind)"))
        }
        return UnkeyedDecoder(elements: elements, codingPath: codingPath)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        SingleValueDecoder(value: value, codingPath: codingPath)
    }
}

/// Scalar conversions shared by the containers.
private enum Scalar {
    static func mismatch<T>(_ type: T.Type, _ value: Value, _ path: [any CodingKey]) -> DecodingError {
        if case .null = value {
            return .valueNotFound(type, .init(codingPath: path, debugDescription: "expected \(type), found null"))
        }
        return .typeMismatch(type, .init(codingPath: path, debugDescription: "expected \(type), found \(value.kind)"))
    }

    static func bool(_ value: Value, _ path: [any CodingKey]) throws -> Bool {
        guard case .bool(let b) = value else { throw mismatch(Bool.self, value, path) }
        return b
    }

    static func string(_ value: Value, _ path: [any CodingKey]) throws -> String {
        guard case .string(let s) = value else { throw mismatch(String.self, value, path) }
        return s
    }

    static func float<T: BinaryFloatingPoint & LosslessStringConvertible>(_ value: Value, _ path: [any CodingKey]) throws -> T {
        guard case .number(let text) = value, let number = T(text) else { throw mismatch(T.self, value, path) }
        return number
    }

    static func integer<T: FixedWidthInteger>(_ value: Value, _ path: [any CodingKey]) throws -> T {
        guard case .number(let text) = value else { throw mismatch(T.self, value, path) }
        if let exact = T(text) { return exact }
        // 1.0 or 1e3 spell integers too; anything else does not fit.
        if let double = Double(text), let exact = T(exactly: double) { return exact }
        throw DecodingError.dataCorrupted(.init(codingPath: path, debugDescription: "\(text) does not fit in \(T.self)"))
    }
}

private struct KeyedDecoder<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let members: [String: Value]
    let codingPath: [any CodingKey]

    var allKeys: [Key] { members.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { members[key.stringValue] != nil }

    private func value(_ key: Key) throws -> Value {
        guard let value = members[key.stringValue] else {
            throw DecodingError.keyNotFound(key, .init(codingPath: codingPath, debugDescription: "no value for key \"\(key.stringValue)\""))
        }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try value(key) { return true }
        return false
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try Scalar.bool(value(key), codingPath + [key]) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try Scalar.string(value(key), codingPath + [key]) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try Scalar.float(value(key), codingPath + [key]) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try Scalar.float(value(key), codingPath + [key]) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try Scalar.integer(value(key), codingPath + [key]) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try Scalar.integer(value(key), codingPath + [key]) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try Scalar.integer(value(key), codingPath + [key]) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try Scalar.integer(value(key), codingPath + [key]) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try Scalar.integer(value(key), codingPath + [key]) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try Scalar.integer(value(key), codingPath + [key]) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try Scalar.integer(value(key), codingPath + [key]) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try Scalar.integer(value(key), codingPath + [key]) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try Scalar.integer(value(key), codingPath + [key]) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try Scalar.integer(value(key), codingPath + [key]) }

    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try T(from: ValueDecoder(value: value(key), codingPath: codingPath + [key]))
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try ValueDecoder(value: value(key), codingPath: codingPath + [key]).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try ValueDecoder(value: value(key), codingPath: codingPath + [key]).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder {
        ValueDecoder(value: members["super"] ?? .null, codingPath: codingPath + [IndexKey(stringValue: "super")])
    }

    func superDecoder(forKey key: Key) throws -> any Decoder {
        ValueDecoder(value: members[key.stringValue] ?? .null, codingPath: codingPath + [key])
    }
}

private struct UnkeyedDecoder: UnkeyedDecodingContainer {
    let elements: [Value]
    let codingPath: [any CodingKey]
    var currentIndex = 0

    init(elements: [Value], codingPath: [any CodingKey]) {
        self.elements = elements
        self.codingPath = codingPath
    }

    var count: Int? { elements.count }
    var isAtEnd: Bool { currentIndex >= elements.count }

    private var path: [any CodingKey] { codingPath + [IndexKey(intValue: currentIndex)] }

    private mutating func next<T>(_ type: T.Type) throws -> Value {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(type, .init(codingPath: path, debugDescription: "unkeyed container is at end"))
        }
        defer { currentIndex += 1 }
        return elements[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard !isAtEnd else {
            throw DecodingError.valueNotFound(Any?.self, .init(codingPath: path, debugDescription: "unkeyed container is at end"))
        }
        if case .null = elements[currentIndex] {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { let p = path; return try Scalar.bool(next(type), p) }
    mutating func decode(_ type: String.Type) throws -> String { let p = path; return try Scalar.string(next(type), p) }
    mutating func decode(_ type: Double.Type) throws -> Double { let p = path; return try Scalar.float(next(type), p) }
    mutating func decode(_ type: Float.Type) throws -> Float { let p = path; return try Scalar.float(next(type), p) }
    mutating func decode(_ type: Int.Type) throws -> Int { let p = path; return try Scalar.integer(next(type), p) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { let p = path; return try Scalar.integer(next(type), p) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { let p = path; return try Scalar.integer(next(type), p) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { let p = path; return try Scalar.integer(next(type), p) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { let p = path; return try Scalar.integer(next(type), p) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { let p = path; return try Scalar.integer(next(type), p) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { let p = path; return try Scalar.integer(next(type), p) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { let p = path; return try Scalar.integer(next(type), p) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { let p = path; return try Scalar.integer(next(type), p) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { let p = path; return try Scalar.integer(next(type), p) }

    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let p = path
        return try T(from: ValueDecoder(value: next(type), codingPath: p))
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let p = path
        return try ValueDecoder(value: next([String: Any].self), codingPath: p).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let p = path
        return try ValueDecoder(value: next([Any].self), codingPath: p).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder {
        let p = path
        return ValueDecoder(value: try next(Any.self), codingPath: p)
    }
}

private struct SingleValueDecoder: SingleValueDecodingContainer {
    let value: Value
    let codingPath: [any CodingKey]

    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool { try Scalar.bool(value, codingPath) }
    func decode(_ type: String.Type) throws -> String { try Scalar.string(value, codingPath) }
    func decode(_ type: Double.Type) throws -> Double { try Scalar.float(value, codingPath) }
    func decode(_ type: Float.Type) throws -> Float { try Scalar.float(value, codingPath) }
    func decode(_ type: Int.Type) throws -> Int { try Scalar.integer(value, codingPath) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Scalar.integer(value, codingPath) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Scalar.integer(value, codingPath) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Scalar.integer(value, codingPath) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Scalar.integer(value, codingPath) }
    func decode(_ type: UInt.Type) throws -> UInt { try Scalar.integer(value, codingPath) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try Scalar.integer(value, codingPath) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try Scalar.integer(value, codingPath) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try Scalar.integer(value, codingPath) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try Scalar.integer(value, codingPath) }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        try T(from: ValueDecoder(value: value, codingPath: codingPath))
    }
}
