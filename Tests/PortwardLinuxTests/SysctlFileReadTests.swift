@testable import PortwardLinux
import SystemPackage
import Testing

/// `SysctlFile.read`: a first read with a small buffer (the kernel zeroes a buffer of the
/// size asked for at every read), the whole value read again when it filled it.
@Suite struct SysctlFileReadTests {
    /// A bitmap sysctl as the kernel serves it: one read at offset 0 returns as much of the
    /// value as the buffer holds. Records the buffer sizes asked for.
    final class Value: SysctlIO, @unchecked Sendable {
        let bytes: [UInt8]
        var sizes: [Int] = []
        init(_ text: String) { bytes = Array(text.utf8) }
        func read(_ path: String, into buffer: UnsafeMutableRawBufferPointer) throws(SysctlError) -> Int {
            sizes.append(buffer.count)
            let n = min(bytes.count, buffer.count)
            bytes.withUnsafeBytes { buffer.copyMemory(from: UnsafeRawBufferPointer(rebasing: $0[..<n])) }
            return n
        }
        func openForWriting(_ path: String, offset: Int) throws(Errno) -> any SysctlWriteHandle { throw .notPermitted }
    }

    @Test func aShortValueIsOneSmallRead() throws {
        let io = Value("1812-1813,5000\n")
        #expect(try SysctlFile(path: "/k", io: io).read() == "1812-1813,5000\n")
        #expect(io.sizes == [SysctlFile.firstReadSize])
    }

    @Test(arguments: [SysctlFile.firstReadSize - 1, SysctlFile.firstReadSize, SysctlFile.firstReadSize + 1, 300_000])
    func aLongValueIsReadWhole(length: Int) throws {
        let text = String(repeating: "1,", count: length / 2) + (length % 2 == 1 ? "\n" : "")
        let io = Value(text)
        #expect(try SysctlFile(path: "/k", io: io).read() == text)
        #expect(io.sizes == (length < SysctlFile.firstReadSize ? [SysctlFile.firstReadSize]
                                                             : [SysctlFile.firstReadSize, SysctlFile.readBufferSize]))
    }
}
