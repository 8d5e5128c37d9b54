/**
 * Helpers for the `ctoffload controller` integration suite: a simple_switch_grpc on fixed
 * loopback ports (so that it can be restarted where the daemon expects it), the daemon as a
 * child process (`node dist/harness/cli/main.js controller …`) with its stderr lines and metrics,
 * a Read of the switch's tables through a separate backup session, and waiting for conditions
 * with generous deadlines (never asserting that something happened within a short time).
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { P4RuntimeClient, describeTableEntry, freePorts, waitForP4Runtime, type DecodedTableEntry } from '../../../p4/index.js';
import { parseControllerMetrics } from '../../../harness/cli/status.js';
import { findTool } from '../../support/tools.js';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const MAIN = join(ROOT, 'dist/harness/cli/main.js');

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) t = Math.max(t, newest(p));
    else if (e.name.endsWith('.ts')) t = Math.max(t, statSync(p).mtimeMs);
  }
  return t;
}

/** Build dist/ when any source is newer than the CLI entry point (the suite runs the built CLI). */
export function ensureBuilt(): void {
  const src = Math.max(...['model', 'offload', 'p4', 'harness'].map((d) => newest(join(ROOT, d))));
  if (existsSync(MAIN) && statSync(MAIN).mtimeMs >= src && existsSync(join(ROOT, 'dist/harness/cli/controller.js'))) return;
  execFileSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json')], { stdio: 'inherit', timeout: 600_000 });
}

/** Poll `cond` until it returns a truthy value; fail after `timeoutMs` with `what`. */
export async function until<T>(what: string, cond: () => Promise<T | undefined | false | null> | T | undefined | false | null, timeoutMs = 60_000, everyMs = 100): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await cond();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export interface SwitchPorts {
  grpc: number;
  thrift: number;
  dataplane: number;
}

/** simple_switch_grpc, empty (`--no-p4`), device 1, CPU port 510, on fixed loopback ports. */
export class TestSwitch {
  readonly address: string;
  readonly dataplaneAddress: string;
  readonly dir = mkdtempSync(join(tmpdir(), 'cto-ctl-sw-'));
  private proc: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  starts = 0;

  private constructor(readonly ports: SwitchPorts) {
    this.address = `127.0.0.1:${ports.grpc}`;
    this.dataplaneAddress = `127.0.0.1:${ports.dataplane}`;
  }

  static async create(): Promise<TestSwitch> {
    const [grpc, thrift, dataplane] = await freePorts(3, '127.0.0.1');
    const sw = new TestSwitch({ grpc: grpc!, thrift: thrift!, dataplane: dataplane! });
    await sw.start();
    return sw;
  }

  get running(): boolean {
    return !!this.proc && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start(): Promise<void> {
    this.starts++;
    const log = openSync(join(this.dir, `switch-${this.starts}.log`), 'a');
    const args = [
      '--device-id', '1',
      '--thrift-port', String(this.ports.thrift),
      '--log-console', '-L', 'warn',
      '--no-p4',
      '--',
      '--grpc-server-addr', this.address,
      '--dp-grpc-server-addr', this.dataplaneAddress,
      '--cpu-port', '510',
    ];
    const p = spawn(findTool('simple_switch_grpc', 'CTOFFLOAD_BMV2')!, args, { stdio: ['ignore', log, log] });
    closeSync(log);
    this.proc = p;
    this.exited = new Promise((r) => p.once('exit', () => r()));
    await waitForP4Runtime(this.address, 30_000);
  }

  /** SIGKILL (a crash) or SIGTERM; resolves when the process is gone. */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const p = this.proc;
    if (!p || !this.running) return;
    p.kill(signal);
    const t = setTimeout(() => p.kill('SIGKILL'), 5000);
    await this.exited;
    clearTimeout(t);
  }

  /** Stop and remove the log directory. */
  async dispose(): Promise<void> {
    await this.stop('SIGKILL');
    rmSync(this.dir, { recursive: true, force: true });
  }

  /** Entries of the tables whose name contains `part` (a backup session reads; Read needs no primaryship). */
  async read(part: string): Promise<DecodedTableEntry[]> {
    const c = await P4RuntimeClient.connect(this.address, { deviceId: 1n, electionId: { high: 0n, low: 1n }, reconnect: false, deadlineMs: 10_000 });
    try {
      const pipe = await c.getPipeline('P4INFO_AND_COOKIE');
      const idx = pipe.p4info!;
      const out: DecodedTableEntry[] = [];
      for (const t of (idx.p4info.tables ?? []) as { preamble: { id: number; name: string } }[]) {
        if (!t.preamble.name.includes(part)) continue;
        for (const e of await c.readAll([{ tableEntry: { tableId: t.preamble.id, counterData: {} } }])) if (e.tableEntry) out.push(describeTableEntry(idx, e.tableEntry));
      }
      return out;
    } finally {
      c.close();
    }
  }

  /** The conntrack entries (tables `CtIngress.conntrack*`). */
  ct(): Promise<DecodedTableEntry[]> {
    return this.read('conntrack');
  }
}

export interface DaemonLine {
  t: number;
  text: string;
}

/** `ctoffload controller …` as a child process. */
export class DaemonProcess {
  readonly lines: DaemonLine[] = [];
  readonly exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  metricsUrl: string | undefined;
  private readonly proc: ChildProcess;

  constructor(args: string[]) {
    this.proc = spawn(process.execPath, [MAIN, 'controller', ...args], { stdio: ['ignore', 'pipe', 'pipe'], cwd: ROOT });
    let buf = '';
    const onData = (d: Buffer): void => {
      buf += d.toString();
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const text = buf.slice(0, i);
        buf = buf.slice(i + 1);
        this.lines.push({ t: performance.now(), text });
        const m = /metrics at (http:\/\/\S+)/.exec(text);
        if (m) this.metricsUrl = m[1];
        if (process.env.CTOFFLOAD_TEST_VERBOSE) process.stderr.write(`[daemon] ${text}\n`);
      }
    };
    this.proc.stderr!.on('data', onData);
    this.proc.stdout!.on('data', onData);
    this.exit = new Promise((r) => this.proc.once('exit', (code, signal) => r({ code, signal })));
  }

  get pid(): number {
    return this.proc.pid!;
  }

  get log(): string {
    return this.lines.map((l) => l.text).join('\n');
  }

  /** The first line matching `re` (waits up to `timeoutMs`). */
  waitLine(re: RegExp, timeoutMs = 60_000, from = 0): Promise<DaemonLine> {
    return until(`daemon log line ${re} (log so far:\n${this.log})`, () => this.lines.slice(from).find((l) => re.test(l.text)), timeoutMs);
  }

  /** Scrape the metrics endpoint (`ctoffload_controller_*`). */
  async metrics(): Promise<Record<string, number | Record<string, number>>> {
    if (!this.metricsUrl) throw new Error('no metrics URL logged yet');
    const res = await fetch(this.metricsUrl);
    return parseControllerMetrics(await res.text());
  }

  async metric(name: string, label?: string): Promise<number> {
    const m = (await this.metrics())[name];
    if (label !== undefined) return (m as Record<string, number> | undefined)?.[label] ?? 0;
    return (m as number | undefined) ?? 0;
  }

  kill(signal: NodeJS.Signals): void {
    this.proc.kill(signal);
  }

  /** SIGKILL if still running (teardown). */
  async destroy(): Promise<void> {
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGKILL');
      await this.exit;
    }
  }
}
