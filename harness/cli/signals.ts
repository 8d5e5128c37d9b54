/**
 * One owner of shutdown. While a command runs, SIGINT and SIGTERM belong to it: the first signal
 * aborts the run (the runner stops before the next packet, keeps what it found and the command
 * then closes its targets), a second one writes every open report as `interrupted` and exits at
 * once (the targets' exit hooks kill their processes and remove their run directories).
 *
 * Every command that starts a target takes its signals here (docs/exit-codes.md, "Signals"):
 * `conformance` through `ownSignals` (its runner watches the AbortSignal itself), `status` and
 * `selftest` through `runOwningSignals`, which also turns whatever the interruption cut short
 * into exit 130/143; a packet loop that knows nothing of signals is stopped before its next
 * packet by `stopBeforeNextPacket` around its target. `driveOwningSignals` is the same for a
 * command that owns the signals only while it drives a target (`replay --target ovs|bmv2`:
 * a model replay has no target to close and keeps the default signal behaviour).
 *
 * The targets' own last-resort handlers (harness/targets/ovs/process.ts, p4/bmv2.ts) stand
 * aside while an owner is registered under the global symbol below, so no daemon is killed
 * while the command is still finishing a packet — the cause of counterexamples that never
 * happened (issue 12) — and the process is never terminated behind the command's back. Without
 * an owner (a library user, a test) they keep cleaning up.
 */
// The registry alone, not the writer: `replay` loads this module and must not load the report stack.
import { finishLiveWriters } from '../report/live.js';
import type { Target } from '../targets/target.js';
import { InterruptedError, reportError, signalExitCode, type CliIo } from './command.js';

/** Shared with the target modules (which cannot import the CLI): a count of active owners. */
export const SHUTDOWN_OWNER = Symbol.for('ctoffload.shutdownOwner');

type Owned = NodeJS.Process & { [SHUTDOWN_OWNER]?: number };

export type StopSignal = 'SIGINT' | 'SIGTERM';

export interface SignalScope {
  /** Aborts on the first SIGINT/SIGTERM (or when `external` aborts). */
  readonly signal: AbortSignal;
  /** The signal that stopped the run, null when none did. */
  received(): StopSignal | null;
  /** The exit code for an interrupted run: 130 for SIGINT (and an external abort), 143 for SIGTERM. */
  exitCode(): number;
  /** Give the signals back (always call, in a finally). */
  release(): void;
}

/**
 * Take SIGINT/SIGTERM for the command `cmd`. With `external` (tests) no process handler is
 * installed: aborting it stops the run like a SIGINT.
 */
export function ownSignals(cmd: string, io: CliIo, external?: AbortSignal): SignalScope {
  const ac = new AbortController();
  let got: StopSignal | null = null;
  let count = 0;
  const handlers = new Map<StopSignal, () => void>();
  const onSignal = (sig: StopSignal): void => {
    if (++count > 1) {
      // Second signal: stop now. Reports are final (`interrupted`), children die in the exit hooks.
      finishLiveWriters('interrupted', `stopped at once by a second ${sig}`);
      process.exit(signalExitCode(got ?? sig));
    }
    got = sig;
    io.err(`\nctoffload ${cmd}: ${sig === 'SIGINT' ? 'interrupted' : 'terminated'}, finishing the current packet, closing the targets and writing reports (${sig === 'SIGINT' ? 'Ctrl-C' : 'the signal'} again to stop at once)\n`);
    ac.abort();
  };
  if (external) {
    if (external.aborted) ac.abort();
    else external.addEventListener('abort', () => ac.abort(), { once: true });
  } else {
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      const h = (): void => onSignal(sig);
      handlers.set(sig, h);
      process.on(sig, h);
    }
    const p = process as Owned;
    p[SHUTDOWN_OWNER] = (p[SHUTDOWN_OWNER] ?? 0) + 1;
  }
  let released = false;
  return {
    signal: ac.signal,
    received: () => got,
    exitCode: () => signalExitCode(got ?? 'SIGINT'),
    release: () => {
      if (released) return;
      released = true;
      for (const [sig, h] of handlers) process.off(sig, h);
      if (!external) {
        const p = process as Owned;
        p[SHUTDOWN_OWNER] = Math.max(0, (p[SHUTDOWN_OWNER] ?? 1) - 1);
      }
    },
  };
}

/** For the target modules' handlers: is a command currently the owner of shutdown? */
export function shutdownOwned(): boolean {
  return ((process as Owned)[SHUTDOWN_OWNER] ?? 0) > 0;
}

/**
 * Run the command `cmd` owning SIGINT/SIGTERM (see `ownSignals`) and give them back after. Once a
 * signal came, the exit code is 130/143 whatever `body` returned or threw: a failure caused by
 * the interruption (a start-up cut short, a packet loop stopped by `stopBeforeNextPacket`) is
 * the interruption, said in one line, never a stack trace. Other errors are reported by class
 * (harness/cli/command.ts `reportError`).
 */
export async function runOwningSignals(cmd: string, io: CliIo, body: (scope: SignalScope) => Promise<number>, external?: AbortSignal): Promise<number> {
  const scope = ownSignals(cmd, io, external);
  try {
    const code = await body(scope);
    return scope.signal.aborted ? scope.exitCode() : code;
  } catch (e) {
    if (scope.signal.aborted) {
      const why = e === scope.signal.reason ? 'stopped before the next packet, targets closed' : (e as Error)?.message ?? String(e);
      io.err(`ctoffload ${cmd}: interrupted: ${why}\n`);
      return scope.exitCode();
    }
    return reportError(cmd, e, io);
  } finally {
    scope.release();
  }
}

/** The calls that drive a target; close() and the accessors (name, counters, status…) are not. */
const DRIVING = new Set<PropertyKey>(['load', 'send', 'sendBatch', 'reset', 'snapshot']);

/**
 * `t` as seen by a packet loop that does not watch `signal` (harness/cli/replay.ts
 * `replayCapture`, `replayTargetStream`): once `signal` aborted, every call that would drive the
 * target throws the abort reason before touching it, so the loop stops before its next packet
 * (the packet in flight finishes) and the caller's `finally` closes the target. Everything else
 * — close() first of all, and a target's own extras such as the bmv2 target's status() — passes
 * through to `t` itself.
 */
export function stopBeforeNextPacket<T extends Target>(t: T, signal: AbortSignal): T {
  return new Proxy(t, {
    get(obj, key) {
      const v: unknown = Reflect.get(obj, key, obj);
      if (typeof v !== 'function') return v;
      const f = v as (...a: unknown[]) => unknown;
      if (!DRIVING.has(key)) return f.bind(obj);
      return (...a: unknown[]) => (signal.aborted ? Promise.reject(signal.reason) : f.apply(obj, a));
    },
  });
}

/**
 * Start a target with `start`, give it to `use` and close it, owning SIGINT/SIGTERM from just
 * before the start until the target is closed — for a command whose only part that needs a clean
 * stop is the target it drives (`replay --target ovs|bmv2`). After a signal `use` is stopped
 * before its next packet (`stopBeforeNextPacket`), the target is closed, and what is thrown is an
 * `InterruptedError` (CTO_INTERRUPTED) carrying 130/143, which `reportError` prints in one line
 * and returns as the exit code. A signal that comes while `use` finishes its last packet
 * interrupts all the same: the command was stopped. Other errors pass through unchanged.
 */
export async function driveOwningSignals<T extends Target, R>(cmd: string, io: CliIo, start: () => Promise<T>, use: (t: T) => Promise<R>, external?: AbortSignal): Promise<R> {
  const scope = ownSignals(cmd, io, external);
  const interrupted = (e?: unknown): InterruptedError => {
    const why = e === undefined || e === scope.signal.reason ? 'stopped before the next packet, target closed' : (e as Error)?.message ?? String(e);
    return new InterruptedError(scope.exitCode(), `interrupted: ${why}`);
  };
  try {
    let t: T;
    try {
      t = await start();
    } catch (e) {
      throw scope.signal.aborted ? interrupted(e) : e;
    }
    try {
      const r = await use(stopBeforeNextPacket(t, scope.signal));
      if (scope.signal.aborted) throw interrupted();
      return r;
    } catch (e) {
      throw scope.signal.aborted && (e as { code?: unknown })?.code !== 'CTO_INTERRUPTED' ? interrupted(e) : e;
    } finally {
      await t.close();
    }
  } finally {
    scope.release();
  }
}
