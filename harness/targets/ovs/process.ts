/**
 * Process hygiene for the OVS target: commands with deadlines, long-running daemons that are
 * always reaped, and a registry that kills every daemon and removes every run directory on
 * close, on process exit and on SIGINT/SIGTERM (unless a command owns shutdown, below).
 *
 * Daemons run as direct children (in their own process group) rather than with OVS's
 * `--detach`: in this container
 * PID 1 does not reap orphans, so `--detach`ed daemons linger as zombies after an exit
 * [observed], and a direct child gives us its exit event (a crash is reported at once instead
 * of as a later timeout). To survive a SIGKILL of Node itself, each instance also starts a
 * watchdog shell that holds a pipe from us and kills the daemons when that pipe reaches EOF.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import { OvsError } from './errors.js';

export interface CommandResult {
  stdout: string;
  stderr: string;
}

export interface CommandOptions {
  env: NodeJS.ProcessEnv;
  /** Spawn deadline: the child is SIGKILLed and CTO_OVS_TIMEOUT thrown after this many ms. */
  timeoutMs: number;
  input?: string;
  /** Error code used when the command exits non-zero (default CTO_OVS_COMMAND). */
  failCode?: 'CTO_OVS_COMMAND' | 'CTO_OVS_POLICY' | 'CTO_OVS_START';
}

function quote(a: string): string {
  return /^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, `'\\''`)}'`;
}

/** The command line for messages, cut to a readable length (a long one once made an 8 MB error). */
export function commandLine(cmd: string, args: readonly string[]): string {
  const full = [cmd, ...args].map(quote).join(' ');
  return full.length <= 600 ? full : `${full.slice(0, 600)}… (${args.length} arguments)`;
}

/** Run a short command to completion; non-zero exit throws an OvsError carrying its stderr. */
export function runCommand(cmd: string, args: readonly string[], opts: CommandOptions): Promise<CommandResult> {
  const line = commandLine(cmd, args);
  return new Promise((resolve, reject) => {
    let child: ChildProcess;
    try {
      child = spawn(cmd, args, { env: opts.env, stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    } catch (e) {
      reject(new OvsError('CTO_OVS_COMMAND', `cannot run ${line}: ${(e as Error).message}`, line));
      return;
    }
    liveChildren.add(child);
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout!.on('data', (b: Buffer) => out.push(b));
    child.stderr!.on('data', (b: Buffer) => err.push(b));
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      reject(new OvsError('CTO_OVS_COMMAND', `cannot run ${line}: ${e.message}`, line));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      liveChildren.delete(child);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(err).toString('utf8').trim();
      if (timedOut) {
        reject(new OvsError('CTO_OVS_TIMEOUT', `${line}: no answer within ${opts.timeoutMs} ms`, line, stderr));
      } else if (code !== 0) {
        const why = stderr || stdout.trim() || `exit ${code ?? signal}`;
        reject(new OvsError(opts.failCode ?? 'CTO_OVS_COMMAND', `${line}: ${why}`, line, stderr));
      } else {
        resolve({ stdout, stderr });
      }
    });
    child.stdin!.on('error', () => {
      /* a child that exits without reading its stdin must not crash us with EPIPE */
    });
    child.stdin!.end(opts.input ?? '');
  });
}

/** A long-running daemon child. `exited` resolves when it is gone (after reaping). */
export interface Daemon {
  readonly name: string;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Set once the exit event fired. */
  exitInfo: { code: number | null; signal: NodeJS.Signals | null } | null;
}

export function startDaemon(name: string, cmd: string, args: readonly string[], env: NodeJS.ProcessEnv): Daemon {
  // stdout/stderr go nowhere: daemons log to their --log-file in the run dir (console logging
  // is switched off with -vconsole:off by the caller), so nothing can fill a pipe and stall them.
  // detached: a process group of its own, so a terminal's Ctrl-C (sent to the whole foreground
  // group) reaches only ctoffload, which stops its run and then closes the daemons; a child
  // that still dies with Node is handled by the watchdog and the exit hook below.
  const child = spawn(cmd, args, { env, stdio: ['ignore', 'ignore', 'ignore'], detached: true });
  if (child.pid === undefined) {
    throw new OvsError('CTO_OVS_START', `cannot start ${name}`, commandLine(cmd, args));
  }
  liveChildren.add(child);
  const d: Daemon = {
    name,
    child,
    pid: child.pid,
    exitInfo: null,
    exited: new Promise((resolve) => {
      child.on('exit', (code, signal) => {
        liveChildren.delete(child);
        d.exitInfo = { code, signal };
        resolve({ code, signal });
      });
    }),
  };
  child.on('error', () => {
    /* reported through exitInfo / exited */
  });
  return d;
}

/** SIGTERM (OVS's fatal-signal handler removes its sockets and pidfile), SIGKILL after graceMs. */
export async function stopDaemon(d: Daemon, graceMs = 2000): Promise<void> {
  if (d.exitInfo) return;
  d.child.kill('SIGTERM');
  let timer: NodeJS.Timeout | undefined;
  const killed = new Promise<void>((resolve) => {
    timer = setTimeout(() => {
      d.child.kill('SIGKILL');
      resolve();
    }, graceMs);
  });
  await Promise.race([d.exited.then(() => undefined), killed]);
  clearTimeout(timer);
  await d.exited;
}

/**
 * Watchdog: a detached shell that blocks reading a pipe from us; when Node dies (even by
 * SIGKILL) the pipe closes, `read` returns and the shell kills the daemons and removes the run
 * directory. close() kills the watchdog first (so it cannot hit a recycled pid).
 */
export function startWatchdog(pids: number[], runDir: string): ChildProcess {
  const script = `read _ignored; kill -9 ${pids.join(' ')} 2>/dev/null; rm -rf ${quote(runDir)}`;
  const child = spawn('sh', ['-c', script], { stdio: ['pipe', 'ignore', 'ignore'], detached: true });
  child.on('error', () => {});
  child.stdin!.on('error', () => {});
  child.unref();
  (child.stdin as unknown as { unref?: () => void }).unref?.();
  liveChildren.add(child);
  child.on('exit', () => liveChildren.delete(child));
  return child;
}

// ---- registry: last-resort cleanup -------------------------------------------------------

const liveChildren = new Set<ChildProcess>();
const liveRunDirs = new Set<string>();
let hooksInstalled = false;

function killAllSync(): void {
  for (const c of liveChildren) {
    try {
      c.kill('SIGKILL');
    } catch {
      /* already gone */
    }
  }
  liveChildren.clear();
  for (const dir of liveRunDirs) {
    try {
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* best effort at exit */
    }
  }
  liveRunDirs.clear();
}

/**
 * Set (a count) by the command that owns shutdown (harness/cli/signals.ts): it stops its run
 * and then closes its targets, so this last-resort handler must not kill the daemons under a
 * packet still in flight (issue 12: that produced counterexamples that never happened).
 */
const SHUTDOWN_OWNER = Symbol.for('ctoffload.shutdownOwner');

function onSignal(sig: NodeJS.Signals): void {
  if (((process as unknown as Record<symbol, number | undefined>)[SHUTDOWN_OWNER] ?? 0) > 0) return;
  process.removeListener(sig, onSignal);
  // Kill, then give the exit events a moment so the daemons are reaped (PID 1 of this container
  // does not reap orphans), then keep the default behaviour (terminate) unless someone else
  // handles the signal.
  const children = [...liveChildren];
  const reaped = Promise.all(
    children.map((c) => new Promise<void>((res) => (c.exitCode !== null || c.signalCode !== null ? res() : c.once('exit', () => res())))),
  );
  killAllSync();
  const done = (): void => {
    if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
  };
  void Promise.race([reaped, new Promise((res) => setTimeout(res, 1000).unref())]).then(done);
}

export function registerRunDir(dir: string): void {
  liveRunDirs.add(dir);
  if (!hooksInstalled) {
    hooksInstalled = true;
    process.on('exit', killAllSync);
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
  }
}

export function unregisterRunDir(dir: string): void {
  liveRunDirs.delete(dir);
}

/** For tests: how many children this module is still tracking. */
export function liveChildCount(): number {
  return liveChildren.size;
}
