/**
 * The built CLI (dist/harness/cli/main.js, `npm run build`) as a child process, for tests that
 * need real signals and a real process exit: start it, wait for a condition (polled, bounded by
 * the test's own timeout, never by a short deadline of ours), signal it, collect its exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';

export const ROOT = join(import.meta.dirname, '../..');
export const CLI = join(ROOT, 'dist/harness/cli/main.js');

export interface CliChild {
  child: ChildProcess;
  out: () => string;
  err: () => string;
  /** Exit code (or 128 + signal number when killed by a signal) once the process is gone. */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>;
}

export function cliBuilt(): boolean {
  return existsSync(CLI);
}

export function startCli(args: string[], env: NodeJS.ProcessEnv = {}): CliChild {
  const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; out: string; err: string }>((resolve) => {
    child.on('close', (code, signal) => resolve({ code, signal, out, err }));
  });
  return { child, out: () => out, err: () => err, exited };
}

/** Polls `cond` every 20 ms until it holds; the test's timeout is the only bound. */
export async function waitFor(cond: () => boolean, what: string, child?: CliChild): Promise<void> {
  for (;;) {
    if (cond()) return;
    if (child && child.child.exitCode !== null) throw new Error(`the CLI exited (${child.child.exitCode}) before ${what}:\n${child.err()}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Lines of a text file, 0 when absent. */
export function lineCount(path: string): number {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((l) => l.trim() !== '').length;
  } catch {
    return 0;
  }
}

/**
 * Pids of live processes whose command line or working directory mentions `needle` (our own
 * process excluded; zombies have neither and do not count).
 */
export function processesMentioning(needle: string): number[] {
  const out: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p) || Number(p) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8');
      let cwd = '';
      try {
        cwd = readlinkSync(`/proc/${p}/cwd`);
      } catch {
        /* not ours to read, or gone */
      }
      if (cmd.includes(needle) || cwd.includes(needle)) out.push(Number(p));
    } catch {
      /* gone */
    }
  }
  return out;
}
