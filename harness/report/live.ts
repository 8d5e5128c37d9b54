/**
 * The report writers still open, and finishing them on a forced exit: a second Ctrl-C
 * (harness/cli/signals.ts) or an exit nobody planned (the `exit` hook below).
 *
 * Kept apart from the writer (harness/report/writer.ts) on purpose: signals.ts is loaded by every
 * command, `replay` included, and the writer pulls in the whole report stack (HTML → key
 * coverage → offload, arbitraries, fast-check, gRPC, prom-client: some 95 more modules, about
 * 0.4 s of CPU at start-up, measured by bench/replay.ts). Only a command that opens a report
 * loads the writer, and a writer registers itself here.
 */
import type { RunStatus } from './schema.js';

/** What the registry needs of an open report. */
export interface LiveReport {
  /** Finish the report with `status`; `error` is recorded (if none is yet) when `status` is `error`. Never throws. */
  finishAs(status: RunStatus, error?: string): void;
  /** Remove the report directory's lock, if still held. Never throws. */
  releaseLock(): void;
}

const live = new Set<LiveReport>();
let exitHook = false;

/** Register an open report; the returned function unregisters it (call it once the report is final). */
export function registerLiveReport(r: LiveReport): () => void {
  live.add(r);
  if (!exitHook) {
    exitHook = true;
    // Last resort (an exit nobody planned: an uncaught exception, a process.exit elsewhere):
    // the reports still end final — `error`, saying so — and no lock is left behind.
    process.on('exit', (code) => {
      finishLiveWriters('error', `ctoffload exited (code ${code}) before the run finished`);
      for (const w of live) w.releaseLock();
    });
  }
  return () => {
    live.delete(r);
  };
}

/** Finish every open report with `status` (and an error text); for a forced exit. Never throws. */
export function finishLiveWriters(status: RunStatus, error?: string): void {
  for (const w of [...live]) {
    try {
      w.finishAs(status, error);
    } catch {
      /* best effort: we are exiting */
    }
  }
}
