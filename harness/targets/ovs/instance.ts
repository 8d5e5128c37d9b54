/**
 * One private Open vSwitch 3.1 instance with the dummy datapath: ovsdb-server + ovs-vswitchd
 * in a fresh temporary run directory, bridge `br0` (datapath_type=dummy, fail-mode=secure),
 * dummy ports `pN` with OpenFlow port N and a tx pcap each. Follows docs/conntrack-semantics.md §9.1
 * and openvswitch/ovs tests/ofproto-macros.at `OVS_VSWITCHD_START` / `add_of_ports`; never the
 * system service, never a kernel module (`--disable-system`, `--disable-system-route`).
 *
 * Every child gets OVS_RUNDIR/OVS_LOGDIR/OVS_DBDIR/OVS_SYSCONFDIR = the run dir (lib/dirs.c.in),
 * and every OVS socket path is passed explicitly as well, so nothing can reach another instance
 * or a system daemon. Several instances run side by side: each has its own directory.
 */
import { mkdtempSync, rmSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createConnection } from 'node:net';
import type { ChildProcess } from 'node:child_process';
import { OvsError } from './errors.js';
import {
  registerRunDir,
  runCommand,
  startDaemon,
  startWatchdog,
  stopDaemon,
  unregisterRunDir,
  type CommandResult,
  type Daemon,
} from './process.js';
import { UnixctlClient } from './unixctl.js';
import { OpenFlowClient } from './openflow.js';
import { OVS_PORT_MTU } from './limits.js';
import { PcapTail } from './pcap-tail.js';

export const OVS_SCHEMA = '/usr/share/openvswitch/vswitch.ovsschema';
export const BRIDGE = 'br0';
/** Every OpenFlow version, so ovs-ofctl can pick whatever the policy's flows need. */
const OF_PROTOCOLS = 'OpenFlow10,OpenFlow11,OpenFlow12,OpenFlow13,OpenFlow14,OpenFlow15';
/** Unix socket paths are limited to 108 bytes (sun_path) including the NUL. */
const SUN_PATH_MAX = 107;

export interface OvsInstanceOptions {
  /** Per-command deadline in ms (spawn deadline; OVS's own --timeout is set from it). */
  commandTimeoutMs?: number;
  /** Directory under which the run dir is created (default os.tmpdir()). */
  baseDir?: string;
}

export class OvsInstance {
  readonly env: NodeJS.ProcessEnv;
  readonly dbSock: string;
  readonly mgmtSock: string;
  private daemons: Daemon[] = [];
  private watchdog: ChildProcess | null = null;
  unixctl: UnixctlClient | null = null;
  openflow: OpenFlowClient | null = null;
  readonly ports = new Map<number, PcapTail>();
  private closed = false;
  private readonly timeoutMs: number;

  private constructor(readonly runDir: string, opts: OvsInstanceOptions) {
    this.timeoutMs = opts.commandTimeoutMs ?? 10_000;
    this.env = {
      ...process.env,
      OVS_RUNDIR: runDir,
      OVS_LOGDIR: runDir,
      OVS_DBDIR: runDir,
      OVS_SYSCONFDIR: runDir,
    };
    this.dbSock = join(runDir, 'db.sock');
    this.mgmtSock = join(runDir, `${BRIDGE}.mgmt`);
  }

  static async start(opts: OvsInstanceOptions = {}): Promise<OvsInstance> {
    const runDir = mkdtempSync(join(opts.baseDir ?? tmpdir(), 'cto-ovs-'));
    registerRunDir(runDir);
    const inst = new OvsInstance(runDir, opts);
    if (Buffer.byteLength(join(runDir, 'ovs-vswitchd.ctl')) > SUN_PATH_MAX) {
      await inst.close();
      throw new OvsError('CTO_OVS_START', `run directory ${runDir} is too long for unix socket paths`);
    }
    try {
      await inst.boot();
    } catch (e) {
      const logs = inst.logTail();
      await inst.close();
      if (e instanceof OvsError && logs) {
        throw new OvsError(e.code as 'CTO_OVS_START', `${e.message}\n--- OVS logs ---\n${logs}`, e.command, e.detail, { cause: e });
      }
      throw e;
    }
    return inst;
  }

  private async boot(): Promise<void> {
    const r = this.runDir;
    await this.run('ovsdb-tool', ['create', join(r, 'conf.db'), OVS_SCHEMA], 'CTO_OVS_START');
    const dbd = startDaemon('ovsdb-server', 'ovsdb-server', [
      join(r, 'conf.db'),
      '--no-chdir',
      `--pidfile=${join(r, 'ovsdb-server.pid')}`,
      `--log-file=${join(r, 'ovsdb-server.log')}`,
      `--unixctl=${join(r, 'ovsdb-server.ctl')}`,
      `--remote=punix:${this.dbSock}`,
      '-vconsole:off',
    ], this.env);
    this.daemons.push(dbd);
    await this.waitForSocket(this.dbSock, dbd);
    await this.vsctl(['--no-wait', 'init']);
    const vsd = startDaemon('ovs-vswitchd', 'ovs-vswitchd', [
      `unix:${this.dbSock}`,
      '--enable-dummy',
      '--disable-system',
      '--disable-system-route',
      '--no-chdir',
      `--pidfile=${join(r, 'ovs-vswitchd.pid')}`,
      `--log-file=${join(r, 'ovs-vswitchd.log')}`,
      `--unixctl=${join(r, 'ovs-vswitchd.ctl')}`,
      '-vconsole:off',
    ], this.env);
    this.daemons.push(vsd);
    this.watchdog = startWatchdog([dbd.pid, vsd.pid], r);
    await this.waitForSocket(join(r, 'ovs-vswitchd.ctl'), vsd);
    this.unixctl = await UnixctlClient.connect(join(r, 'ovs-vswitchd.ctl'), this.timeoutMs);
    // The Datapath record lets `add-zone-tp dummy …` work later (docs/conntrack-semantics.md §6.3).
    await this.vsctl([
      'add-br', BRIDGE,
      '--', 'set', 'bridge', BRIDGE, 'datapath_type=dummy', 'fail-mode=secure',
      'other-config:datapath-id=fedcba9876543210', `protocols=${OF_PROTOCOLS}`,
      '--', '--id=@m', 'create', 'Datapath', 'datapath_version=0',
      '--', 'set', 'Open_vSwitch', '.', 'datapaths:dummy=@m',
    ]);
    await this.waitForSocket(this.mgmtSock, vsd);
    this.openflow = await OpenFlowClient.connect(this.mgmtSock, this.timeoutMs);
  }

  /** Poll until `path` accepts a connection (the daemon listens), failing fast if it exits. */
  private async waitForSocket(path: string, d: Daemon): Promise<void> {
    const deadline = Date.now() + this.timeoutMs;
    for (;;) {
      if (d.exitInfo) {
        throw new OvsError('CTO_OVS_START', `${d.name} exited during start-up (${d.exitInfo.code ?? d.exitInfo.signal})`, d.name);
      }
      if (existsSync(path)) {
        const ok = await new Promise<boolean>((resolve) => {
          const s = createConnection(path);
          s.once('connect', () => {
            s.destroy();
            resolve(true);
          });
          s.once('error', () => resolve(false));
        });
        if (ok) return;
      }
      if (Date.now() > deadline) {
        throw new OvsError('CTO_OVS_TIMEOUT', `${d.name}: ${path} not listening after ${this.timeoutMs} ms`, d.name);
      }
      await new Promise((res) => setTimeout(res, 5));
    }
  }

  /** Run an OVS utility with the instance's environment and deadline. */
  run(cmd: string, args: readonly string[], failCode?: 'CTO_OVS_COMMAND' | 'CTO_OVS_POLICY' | 'CTO_OVS_START', input?: string): Promise<CommandResult> {
    this.checkAlive();
    return runCommand(cmd, args, { env: this.env, timeoutMs: this.timeoutMs + 2000, failCode, input });
  }

  vsctl(args: readonly string[]): Promise<CommandResult> {
    const secs = Math.max(1, Math.ceil(this.timeoutMs / 1000));
    return this.run('ovs-vsctl', [`--db=unix:${this.dbSock}`, `--timeout=${secs}`, ...args]);
  }

  ofctl(args: readonly string[], failCode?: 'CTO_OVS_COMMAND' | 'CTO_OVS_POLICY', input?: string): Promise<CommandResult> {
    const secs = Math.max(1, Math.ceil(this.timeoutMs / 1000));
    const [sub, ...rest] = args;
    return this.run('ovs-ofctl', [`--timeout=${secs}`, '-O', OF_PROTOCOLS, sub!, `unix:${this.mgmtSock}`, ...rest], failCode, input);
  }

  /** ovs-appctl to ovs-vswitchd over the persistent unixctl connection. */
  appctl(method: string, ...params: string[]): Promise<string> {
    this.checkAlive();
    return this.unixctl!.call(method, params, this.timeoutMs);
  }

  /** Create dummy ports pN (OpenFlow port N, tx pcap) for every N not present yet. */
  async ensurePorts(ports: Iterable<number>): Promise<void> {
    const missing = [...new Set(ports)].filter((p) => !this.ports.has(p)).sort((a, b) => a - b);
    if (missing.length === 0) return;
    for (const n of missing) {
      if (!Number.isInteger(n) || n < 1 || n > 0xfeff) {
        throw new OvsError('CTO_OVS_UNSUPPORTED', `port ${n} cannot be a dummy OpenFlow port (1..65279)`);
      }
    }
    // In chunks: one ovs-vsctl per 64 ports keeps the command line far from ARG_MAX (E2BIG).
    for (let i = 0; i < missing.length; i += 64) {
      const args: string[] = [];
      for (const n of missing.slice(i, i + 64)) {
        args.push('--', 'add-port', BRIDGE, `p${n}`, '--', 'set', 'Interface', `p${n}`, 'type=dummy',
          // The largest MTU a dummy port takes (DUMMY_MAX_MTU): limits.ts explains.
          `ofport_request=${n}`, `mtu_request=${OVS_PORT_MTU}`, `options:tx_pcap=${this.pcapPath(n)}`);
      }
      // Without --no-wait ovs-vsctl returns once ovs-vswitchd applied the change (cur_cfg).
      await this.vsctl(args);
    }
    for (const n of missing) this.ports.set(n, new PcapTail(this.pcapPath(n)));
  }

  pcapPath(port: number): string {
    return join(this.runDir, `p${port}-tx.pcap`);
  }

  /** Last lines of the daemons' logs, for error messages. */
  logTail(lines = 15): string {
    const out: string[] = [];
    for (const f of ['ovsdb-server.log', 'ovs-vswitchd.log']) {
      try {
        const t = readFileSync(join(this.runDir, f), 'utf8').trimEnd().split('\n');
        out.push(`[${f}]`, ...t.slice(-lines));
      } catch {
        /* no log yet */
      }
    }
    return out.join('\n');
  }

  pids(): number[] {
    return this.daemons.map((d) => d.pid);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  private checkAlive(): void {
    if (this.closed) throw new OvsError('CTO_OVS_STATE', 'OVS instance already closed');
    for (const d of this.daemons) {
      if (d.exitInfo) {
        throw new OvsError('CTO_OVS_EXIT', `${d.name} exited (${d.exitInfo.code ?? d.exitInfo.signal})\n${this.logTail()}`, d.name);
      }
    }
  }

  /** Stop both daemons, close sockets and files, remove the run directory. Idempotent. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.openflow?.close();
    this.unixctl?.close();
    for (const p of this.ports.values()) p.close();
    this.ports.clear();
    if (this.watchdog) {
      const w = this.watchdog;
      const gone = new Promise<void>((res) => (w.exitCode !== null || w.signalCode !== null ? res() : w.once('exit', () => res())));
      w.kill('SIGKILL');
      await gone;
    }
    // vswitchd first (it holds the db connection), then the database.
    for (const d of [...this.daemons].reverse()) await stopDaemon(d);
    rmSync(this.runDir, { recursive: true, force: true });
    unregisterRunDir(this.runDir);
  }
}
