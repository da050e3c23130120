import Glibc
import PortwardCore
import PortwardLinux
import SystemPackage
import Testing

/// portward's own files (state file, daemon view): never block, never follow a symbolic
/// link, never read without bound (issue 11, items 8 and 9).
@Suite struct FileContentsTests {
    @Test func readsARegularFile() throws {
        let root = FakeRoot()
        root.write("/f", "hello\n")
        #expect(try FileContents.readOwnFile(root.at("/f"), limit: 100) == Array("hello\n".utf8))
        #expect(throws: FileContents.ReadFailure.missing) { try FileContents.readOwnFile(root.at("/none"), limit: 100) }
        #expect(throws: FileContents.ReadFailure.missing) { try FileContents.readOwnFile(root.at("/none/f"), limit: 100) }
    }

    /// A FIFO with no writer: a blocking open(O_RDONLY) would wait forever; this returns.
    @Test func refusesAFIFOWithoutOpeningIt() {
        let root = FakeRoot()
        #expect(mkfifo(root.at("/fifo"), 0o644) == 0)
        #expect(throws: FileContents.ReadFailure.notRegular(kind: "a FIFO")) {
            try FileContents.readOwnFile(root.at("/fifo"), limit: 100)
        }
    }

    @Test func refusesASymbolicLinkEvenToARegularFile() {
        let root = FakeRoot()
        root.write("/real", "x")
        #expect(symlink("/dev/zero", root.at("/zero")) == 0)
        #expect(symlink(root.at("/real"), root.at("/link")) == 0)
        #expect(throws: FileContents.ReadFailure.symbolicLink(target: "/dev/zero")) {
            try FileContents.readOwnFile(root.at("/zero"), limit: 100)
        }
        #expect(throws: FileContents.ReadFailure.symbolicLink(target: root.at("/real"))) {
            try FileContents.readOwnFile(root.at("/link"), limit: 100)
        }
    }

    @Test func refusesADirectoryAndAFileOverTheLimit() {
        let root = FakeRoot()
        root.mkdir("/dir")
        root.write("/big", String(repeating: "x", count: 101))
        root.write("/fits", String(repeating: "x", count: 100))
        #expect(throws: FileContents.ReadFailure.notRegular(kind: "a directory")) {
            try FileContents.readOwnFile(root.at("/dir"), limit: 100)
        }
        #expect(throws: FileContents.ReadFailure.tooLarge(size: 101, limit: 100)) {
            try FileContents.readOwnFile(root.at("/big"), limit: 100)
        }
        #expect((try? FileContents.readOwnFile(root.at("/fits"), limit: 100))?.count == 100)
    }

    /// The state store reports a planted state file as unusable (the transaction then
    /// warns and plans from an empty state); a sparse file past the cap is not read.
    @Test func stateStoreRefusesPlantsAndHugeFiles() {
        let root = FakeRoot()
        root.mkdir("/run/portward")
        let path = root.at("/run/portward/state.json")
        let store = StateStore(path: path)
        #expect(mkfifo(path, 0o644) == 0)
        #expect(throws: StateStore.Failure.self) { try store.load() }
        unlink(path)
        let fd = open(path, O_WRONLY | O_CREAT, 0o644)
        #expect(ftruncate(fd, off_t(StateStore.maximumFileSize) + 1) == 0)
        close(fd)
        do {
            _ = try store.load()
            Issue.record("no error")
        } catch {
            #expect(error.description.contains("file too large (\(StateStore.maximumFileSize + 1) bytes"), "\(error)")
        }
        unlink(path)
        #expect(symlink("/dev/zero", path) == 0)
        #expect(DaemonViewStore(path: path).load() == nil)
    }

    /// A FIFO left at the temporary name of an atomic write (`path.tmp.PID`): the old code
    /// opened it for writing (blocking forever without a reader) and renamed the FIFO over
    /// `path`. A reader end is held here so that a regression fails instead of hanging.
    @Test func atomicWriteReplacesAFIFOAtItsTemporaryName() throws {
        let root = FakeRoot()
        let path = root.at("/state.json")
        let temporary = path + ".tmp.\(getpid())"
        #expect(mkfifo(temporary, 0o644) == 0)
        let reader = open(temporary, O_RDONLY | O_NONBLOCK)
        defer { close(reader) }
        try FileContents.writeAtomically(Array("{}\n".utf8), to: path)
        var info = stat()
        #expect(lstat(path, &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFREG)
        #expect(try FileContents.readOwnFile(path, limit: 100) == Array("{}\n".utf8))
        #expect(access(temporary, F_OK) != 0)
    }
}
