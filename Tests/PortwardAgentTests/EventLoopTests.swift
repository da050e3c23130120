import Glibc
@testable import PortwardLinux
import Testing

/// The sd-event loop with real descriptors and timers (no signals: the test runner's
/// threads do not block them).
@Suite struct EventLoopTests {
    @Test func timersFireInOrderAndReadableDescriptorsDispatch() throws {
        let loop = try EventLoop()
        var fired: [String] = []
        var pipeEnds: [Int32] = [0, 0]
        #expect(pipe(&pipeEnds) == 0)
        defer { close(pipeEnds[0]); close(pipeEnds[1]) }
        try loop.addTimer(after: 0.02) { fired.append("late") }
        try loop.addTimer(after: 0.001) { fired.append("early") }
        try loop.addReadable(pipeEnds[0]) { _ in
            var byte: UInt8 = 0
            _ = read(pipeEnds[0], &byte, 1)
            fired.append("readable")
            loop.exit(7)
        }
        try loop.addTimer(after: 0.04) { _ = write(pipeEnds[1], "x", 1) }
        #expect(try loop.run() == 7)
        #expect(fired == ["early", "late", "readable"])
    }

    @Test func aTimerCanBeRescheduledFromItsHandlerAndCancelled() throws {
        let loop = try EventLoop()
        var count = 0
        var timer: EventLoop.Source?
        timer = try loop.addTimer(after: 0) {
            count += 1
            if count < 3 { timer?.schedule(after: 0.001) } else { loop.exit(0) }
        }
        _ = try loop.run()
        #expect(count == 3)
        let other = try EventLoop()
        let idle = try other.addTimer(after: 0) { count += 100 }
        idle.cancel()
        #expect(try other.runOnce(timeout: 0.01) == false)
        #expect(count == 3)
    }

    @Test func higherPriorityWinsWhenBothAreReady() throws {
        let loop = try EventLoop()
        var order: [String] = []
        try loop.addTimer(after: 0, priority: .normal) { order.append("normal") }
        try loop.addTimer(after: 0, priority: .important) { order.append("important") }
        usleep(2_000)
        _ = try loop.runOnce(timeout: 0.1)
        _ = try loop.runOnce(timeout: 0.1)
        #expect(order == ["important", "normal"])
    }
}
