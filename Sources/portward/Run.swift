import ArgumentParser
import Glibc
import PortwardCore
import PortwardLinux

extension Portward {
    struct Run: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "The daemon: apply, tell systemd READY=1, and keep running.",
            discussion: """
                For portward.service (Type=notify). SIGHUP re-reads the configuration and \
                re-applies it (RELOADING=1, then READY=1); a bad new configuration keeps the \
                running reservation and logs why. SIGTERM or SIGINT sends STOPPING=1 and exits 0, \
                leaving the reservation in place. If the first apply fails, exits non-zero at once.
                """)

        @OptionGroup var options: CommonOptions

        @Flag(help: "Apply even when the reservation would cover more than half of ip_local_port_range.")
        var force = false

        func run() throws {
            // Block the signals before anything else so none is lost between apply and wait.
            let signals: SignalWaiter
            do { signals = try SignalWaiter([SIGHUP, SIGTERM, SIGINT]) } catch {
                Console.error("cannot set up signal handling: \(error)")
                throw ExitStatus.failure
            }
            let reconciler = options.reconciler
            var configuration = try options.loadConfiguration()
            let plan = try Reservation.apply(configuration, with: reconciler, force: force)
            var summary = PlanReport.summary(plan, configuration)
            Console.error(summary)
            ServiceManager.ready(status: summary)

            while true {
                guard let signal = signals.wait(timeoutMilliseconds: -1) else { continue }
                switch signal {
                case SIGHUP:
                    ServiceManager.reloading()
                    do {
                        let reloaded = try options.loadConfiguration()
                        let plan = try Reservation.apply(reloaded, with: reconciler, force: force)
                        configuration = reloaded
                        summary = PlanReport.summary(plan, configuration)
                        Console.error("reloaded: \(summary)")
                    } catch {
                        Console.error("reload failed; keeping the running reservation")
                    }
                    ServiceManager.ready(status: summary)
                default:
                    ServiceManager.stopping()
                    Console.error("stopping; the reservation stays in place")
                    return
                }
            }
        }
    }
}
