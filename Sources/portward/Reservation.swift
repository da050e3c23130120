import ArgumentParser
import PortwardCore
import PortwardLinux

/// Plan + commit with the CLI's error reporting; shared by apply and run.
enum Reservation {
    /// Throws an `ExitCode` after printing the reason: refused plan, kernel or state errors.
    /// `whileLocked` runs after a successful commit, still holding the reconcile lock.
    static func apply(_ configuration: Configuration, with reconciler: Reconciler, force: Bool,
                      whileLocked: (Plan) -> Void = { _ in }) throws -> Plan {
        do {
            return try reconciler.lock.withLock { () throws -> Plan in
                let plan = try planAndCommit(configuration, with: reconciler, force: force)
                whileLocked(plan)
                return plan
            }
        } catch let error as ReconcileLock.Failure {
            Console.error("\(error)")
            throw ExitStatus.failure
        }
    }

    private static func planAndCommit(_ configuration: Configuration, with reconciler: Reconciler, force: Bool) throws -> Plan {
        let plan: Plan
        do {
            let (computed, warnings) = try reconciler.plan(configuration, force: force)
            Console.report(warnings + computed.diagnostics)
            plan = computed
        } catch {
            Console.error("\(error)")
            throw ExitStatus.failure
        }
        if plan.isRefused { throw ExitStatus.refused }
        do {
            _ = try reconciler.commit(plan)
        } catch {
            Console.error("\(error)")
            throw ExitStatus.failure
        }
        return plan
    }
}
