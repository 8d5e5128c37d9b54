/**
 * OvsTarget: Open vSwitch 3.1's userspace conntrack (dummy datapath) as a harness Target.
 *
 * Per packet (send):
 *  1. clock: `time/warp` by the trace-time delta (time was stopped at start, §6.4), then wait
 *     for the conntrack sweeper (see `sweepBarrier`);
 *  2. inject the frame and then a sentinel frame on the same port with `netdev-dummy/receive`
 *     over one persistent unixctl connection;
 *  3. wait for the sentinel's packet-in: everything before it on the OpenFlow connection
 *     belongs to the packet (lookups from the trampoline tables, user `controller` outputs),
 *     and every tx pcap record written since the previous packet is one of its outputs
 *     (rewrite.ts explains why the sentinel is a barrier).
 * Anything that arrives outside a send (a late packet-in, a pcap record) is an attribution
 * failure and is reported by the next call instead of being silently misattributed.
 *
 * Output order: OVS gives no cross-port order through tx pcaps, so `outputs` lists port
 * outputs by ascending port (emission order within a port), then `controller` outputs in
 * packet-in order. Compare outputs from another target after the same stable sort by port.
 * `VerdictOutput.ct` is left undefined (a pcap shows only bytes).
 */
import { readFileSync } from 'node:fs';
import type { CtLookup, Verdict, VerdictOutput } from '../../../model/verdict.js';
import { PORT_CONTROLLER } from '../../../model/verdict.js';
import { parsePolicy } from '../../../model/pipeline/index.js';
import { checkTraceTime } from '../../../model/clock.js';
import type { EntryHits, PolicySource, SendStep, Target, TargetState } from '../target.js';
import { OvsError } from './errors.js';
import { OVS_MAX_FRAME, OVS_MIN_FRAME } from './limits.js';
import { OvsInstance, type OvsInstanceOptions } from './instance.js';
import type { PacketIn } from './openflow.js';
import {
  LINE_COOKIE_BASE,
  LINE_COOKIE_MASK,
  lineOfCookie,
  planOvsPolicy,
  SENTINEL_DST,
  SENTINEL_ETHERTYPE,
  SENTINEL_SRC,
  USERDATA_LOOKUP,
  USERDATA_SENTINEL,
  type OvsPolicyPlan,
} from './rewrite.js';

export interface OvsTargetOptions extends OvsInstanceOptions {
  /** How long to wait for the sentinel of one packet (ms). */
  packetTimeoutMs?: number;
  /** Extra ports to create up front (besides the policy's and the ones packets arrive on). */
  ports?: number[];
}

const SENTINEL_MAGIC = 0xc70ff1ad;

/**
 * The longest trace the OVS oracle can be driven through: 2^31 − 1 ms (24.8 days). Warps are
 * sent as exact decimal integers (never exponent text: OVS reads them with atoll, so "1e21"
 * warped 1 ms, issue 12), and ovs-vswitchd's cost for a warp grows with its length: measured on
 * 3.1 with one connection, 2^31 ms takes 0.3 s, 2^33 ms 1.2–1.4 s, and a 2^32 s (136-year) warp
 * does not finish (docs/conntrack-semantics.md §6.4 for the commands).
 */
export const OVS_MAX_TIME_MS = 2 ** 31 - 1;

/** The non-empty lines of an appctl answer, trimmed. */
function textLines(text: string): string[] {
  return text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

function macBytes(mac: string): number[] {
  return mac.split(':').map((h) => parseInt(h, 16));
}

function toHex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function isFragment(f: Uint8Array): boolean {
  let off = 12;
  let type = (f[off]! << 8) | f[off + 1]!;
  while ((type === 0x8100 || type === 0x88a8) && f.length >= off + 6) {
    off += 4;
    type = (f[off]! << 8) | f[off + 1]!;
  }
  const l3 = off + 2;
  if (type === 0x0800 && f.length >= l3 + 8) return (((f[l3 + 6]! << 8) | f[l3 + 7]!) & 0x3fff) !== 0;
  if (type === 0x86dd && f.length >= l3 + 40) {
    // Conservative: any fragment header (44) anywhere among the first next-header values.
    let nh = f[l3 + 6]!;
    let p = l3 + 40;
    for (let i = 0; i < 8 && p + 8 <= f.length; i++) {
      if (nh === 44) return true;
      if (nh !== 0 && nh !== 43 && nh !== 60 && nh !== 51) return false;
      const len = nh === 51 ? (f[p + 1]! + 2) * 4 : (f[p + 1]! + 1) * 8;
      nh = f[p]!;
      p += len;
    }
  }
  return false;
}

/** ovs-ofctl names stdin "-"; its rejection points at the user's source and lines instead. */
function policyError(e: unknown, plan: OvsPolicyPlan, policy: PolicySource): unknown {
  if (!(e instanceof OvsError) || e.code !== 'CTO_OVS_POLICY') return e;
  const msg = (e.detail || e.message).replace(/^ovs-ofctl: /gm, '').replace(/(^|\s)-:(\d+):/g, (_m, pre: string, n: string) =>
    Number(n) <= plan.userLines ? `${pre}${policy.source}:${n}:` : `${pre}<instrumentation>:${n}:`);
  return new OvsError('CTO_OVS_POLICY', `OVS rejected ${policy.source}: ${msg}`, e.command, e.detail, { cause: e });
}

/** The plan's conntrack configuration (OVSDB and dpctl state, not flows), comparable as text. */
function configOf(plan: OvsPolicyPlan): string {
  return JSON.stringify({
    tp: [...plan.zoneTimeouts].sort((a, b) => a[0] - b[0]),
    limits: [...plan.zoneLimits].sort((a, b) => a[0] - b[0]),
    defaultLimit: plan.defaultLimit,
    ipf: [...plan.ipfDisabled].sort(),
  });
}

export class OvsTarget implements Target {
  readonly name = 'ovs';
  /** OVS 3.1 salts NAT allocation with a random hash basis (docs/conntrack-semantics.md §11.3). */
  readonly randomChoices = true;
  readonly maxTimeMs = OVS_MAX_TIME_MS;
  private inst: OvsInstance | null = null;
  private plan: OvsPolicyPlan | null = null;
  private policy: PolicySource | null = null;
  private prevTime = 0;
  private seq = 0;
  private collecting: PacketIn[] | null = null;
  private waiter: { seq: number; resolve: () => void; reject: (e: Error) => void } | null = null;
  private stray: string[] = [];
  /** Configuration a flush does not undo was applied (zone limits): restart before a new policy. */
  private sticky = false;
  /** A fragment was injected: ipf may hold it past a flush (§9.4); restart on reset. */
  private fragmentsSent = false;
  private closed = false;
  private readonly packetTimeoutMs: number;

  private constructor(private readonly opts: OvsTargetOptions) {
    this.packetTimeoutMs = opts.packetTimeoutMs ?? 5000;
  }

  static async create(opts: OvsTargetOptions = {}): Promise<OvsTarget> {
    const t = new OvsTarget(opts);
    await t.boot();
    return t;
  }

  /** The running instance (tests: run dir, pids). */
  get instance(): OvsInstance {
    if (!this.inst) throw new OvsError('CTO_OVS_STATE', 'OVS target is closed');
    return this.inst;
  }

  private async boot(): Promise<void> {
    const inst = await OvsInstance.start(this.opts);
    try {
      await inst.appctl('time/stop');
      await inst.ensurePorts(this.opts.ports ?? []);
    } catch (e) {
      await inst.close();
      throw e;
    }
    inst.openflow!.onPacketIn = (p) => this.onPacketIn(p);
    // A dead OpenFlow connection (daemon crash) fails the packet at once, not at its deadline.
    inst.openflow!.onClose = (e) => this.waiter?.reject(e);
    this.inst = inst;
    this.sticky = false;
    this.fragmentsSent = false;
    this.prevTime = 0;
  }

  private async restart(): Promise<void> {
    const old = this.inst;
    this.inst = null;
    await old?.close();
    await this.boot();
  }

  private onPacketIn(p: PacketIn): void {
    const u = p.userdata;
    if (u && u.length === 4 && USERDATA_SENTINEL.every((b, i) => u[i] === b)) {
      const d = p.data;
      const seq = d.length >= 22 && ((d[14]! << 24) | (d[15]! << 16) | (d[16]! << 8) | d[17]!) >>> 0 === SENTINEL_MAGIC
        ? ((d[18]! << 24) | (d[19]! << 16) | (d[20]! << 8) | d[21]!) >>> 0
        : -1;
      if (this.waiter && seq === this.waiter.seq) {
        const w = this.waiter;
        this.waiter = null;
        w.resolve();
      } else {
        this.stray.push(`sentinel ${seq} (expected ${this.waiter?.seq ?? 'none'})`);
      }
      return;
    }
    if (this.collecting) this.collecting.push(p);
    else this.stray.push(`packet-in outside a send (table ${p.tableId}, ${p.data.length} bytes)`);
  }

  async load(policy: PolicySource): Promise<void> {
    this.checkOpen();
    const plan = planOvsPolicy(parsePolicy(policy.text, policy.source), { lineCookies: true });
    if (this.sticky || this.fragmentsSent || this.plan?.zoneTimeouts.size) await this.restart();
    const inst = this.instance;
    this.plan = null;
    this.policy = null;
    await inst.ofctl(['del-flows']);
    await inst.appctl('dpctl/flush-conntrack');
    await inst.ensurePorts(plan.ports);
    try {
      await inst.ofctl(['add-flows', '-'], 'CTO_OVS_POLICY', plan.flowsText);
    } catch (e) {
      await inst.ofctl(['del-flows']).catch(() => {});
      throw policyError(e, plan, policy);
    }
    for (const [zone, attrs] of plan.zoneTimeouts) {
      const kv = Object.entries(attrs).map(([k, v]) => `${k}=${v}`);
      await inst.vsctl(['--may-exist', 'add-zone-tp', 'dummy', `zone=${zone}`, ...kv]);
    }
    if (plan.zoneTimeouts.size) {
      // OVS 3.1 adds a zone's timeout policy to the datapath ct action only when translating a
      // TCP/UDP/ICMP packet and leaves nw_proto wildcarded, so a megaflow translated for another
      // protocol commits the zone's later TCP/UDP/ICMP entries with the defaults (docs/
      // conntrack-semantics.md §6.3, defect). Exact-match datapath flows give every protocol its
      // own translation: the OpenFlow pipeline's meaning, independent of the flow cache. Undone
      // by the restart the next load() makes for a policy with timeout policies.
      await inst.appctl('upcall/disable-megaflows');
    }
    await this.applyLimits(plan);
    for (const fam of plan.ipfDisabled) {
      this.sticky = true; // held in the datapath's ipf, untouched by flows and flushes
      await inst.appctl('dpctl/ipf-set-disabled', fam);
    }
    // Datapath flows translated under the previous policy or configuration must not serve the
    // next packet; revalidation is asynchronous, a purge is not (ofproto-dpif-upcall.c
    // `upcall_unixctl_purge`).
    await inst.appctl('revalidator/purge');
    for (const p of inst.ports.values()) p.skip();
    this.plan = plan;
    this.policy = policy;
    this.prevTime = 0;
    this.stray = [];
    this.hitBase.clear(); // add-flows starts every flow's n_packets at 0
  }

  /**
   * Run another policy from the current point of the trace on (Target.replacePolicy): the same
   * rewritten flows load() installs (rewrite.ts), given to `ovs-ofctl --bundle replace-flows` —
   * one OpenFlow 1.4 bundle, committed atomically or not at all, so a flow OVS refuses leaves
   * the running flows as they were. Conntrack, the clock and the ports stay: OVS keeps its
   * conntrack entries across flow changes (docs/conntrack-semantics.md §9.8). Policies that
   * change conntrack configuration rather than flows (timeout policies, zone limits, ipf) are
   * refused: those are OVSDB/datapath settings a flow change does not carry.
   */
  async replacePolicy(policy: PolicySource): Promise<void> {
    this.checkOpen();
    const cur = this.plan;
    if (!cur || !this.policy) throw new OvsError('CTO_OVS_STATE', 'replacePolicy() before a successful load()');
    const plan = planOvsPolicy(parsePolicy(policy.text, policy.source), { lineCookies: true });
    if (configOf(plan) !== configOf(cur)) {
      throw new OvsError('CTO_OVS_POLICY', `${policy.source}: its timeout policies, zone limits or ipf settings differ from the running ${this.policy.source}'s; the OVS target replaces flows only (load() it instead)`);
    }
    const inst = this.instance;
    this.checkStray();
    await inst.ensurePorts(plan.ports);
    try {
      // --bundle after the operands: ovs-ofctl's getopt_long permutes them.
      await inst.ofctl(['replace-flows', '-', '--bundle'], 'CTO_OVS_POLICY', plan.flowsText);
    } catch (e) {
      throw policyError(e, plan, policy);
    }
    // Datapath flows translated under the old flows must not serve the next packet (as in load()).
    await inst.appctl('revalidator/purge');
    this.plan = plan;
    this.policy = policy;
    // Coverage counts restart with the new flows (replace-flows keeps an unchanged flow's n_packets).
    const stats = await inst.openflow!.flowStats(LINE_COOKIE_BASE, LINE_COOKIE_MASK, this.packetTimeoutMs);
    this.hitBase.clear();
    for (const st of stats) {
      const line = lineOfCookie(st.cookie);
      if (line !== null) this.hitBase.set(line, Number(st.packets));
    }
  }

  /** n_packets per policy line at the previous takeEntryHits (since the last load). */
  private readonly hitBase = new Map<number, number>();

  /**
   * Coverage: OVS's own n_packets per user flow since load() or the previous call (OFPMP_FLOW
   * statistics, what `ovs-ofctl dump-flows` shows). The
   * revalidators push datapath flow statistics to the OpenFlow flows only periodically;
   * `revalidator/purge` deletes the datapath flows and pushes their statistics on the way
   * (ofproto-dpif-upcall.c), so the dump that follows counts every packet sent. Purging
   * changes no outcome: the next packets are translated again from the same flows (load()
   * purges for the same reason). Flows are recognised by their line cookie (rewrite.ts).
   */
  async takeEntryHits(): Promise<EntryHits | null> {
    this.checkOpen();
    if (!this.plan) throw new OvsError('CTO_OVS_STATE', 'takeEntryHits() before a successful load()');
    const inst = this.instance;
    await inst.appctl('revalidator/purge');
    // The flow statistics `ovs-ofctl dump-flows` prints, over the OpenFlow connection the target
    // already holds (a process per trace cost ~100 ms on a loaded machine).
    const stats = await inst.openflow!.flowStats(LINE_COOKIE_BASE, LINE_COOKIE_MASK, this.packetTimeoutMs);
    const flows: Record<number, number> = {};
    for (const st of stats) {
      const line = lineOfCookie(st.cookie);
      if (line === null) continue;
      const total = Number(st.packets);
      const delta = total - (this.hitBase.get(line) ?? 0);
      this.hitBase.set(line, total);
      if (delta > 0) flows[line] = (flows[line] ?? 0) + delta;
    }
    return { flows, source: 'OVS n_packets' };
  }

  private async applyLimits(plan: OvsPolicyPlan): Promise<void> {
    const args: string[] = [];
    if (plan.defaultLimit !== null) args.push(`default=${plan.defaultLimit}`);
    for (const [z, l] of plan.zoneLimits) args.push(`zone=${z},limit=${l}`);
    if (args.length === 0) return;
    this.sticky = true; // 3.1 cannot delete the default limit, and limit 0 sticks (§7)
    await this.instance.appctl('dpctl/ct-set-limits', ...args);
  }

  /**
   * OVS's own view at trace time `time` (the clock warps there as send() would, expired
   * entries swept): `dpctl/dump-conntrack -m -s`, and the zone limits when the policy sets any.
   */
  async snapshot(time = this.prevTime): Promise<TargetState> {
    this.checkOpen();
    if (!this.plan) throw new OvsError('CTO_OVS_STATE', 'snapshot() before a successful load()');
    checkTraceTime(time, 'ovs snapshot', OVS_MAX_TIME_MS, 'the ovs target');
    if (time < this.prevTime) throw new OvsError('CTO_OVS_STATE', `snapshot at ${time} ms is before the last packet's ${this.prevTime} ms`);
    const inst = this.instance;
    await this.warpTo(time);
    const lines = textLines(await inst.appctl('dpctl/dump-conntrack', '-m', '-s'));
    const sections = [{ title: `dpctl/dump-conntrack -m -s (t=${time} ms): ${lines.length} connection(s)`, lines }];
    if (this.plan.zoneLimits.size || this.plan.defaultLimit !== null) {
      const lim = textLines(await inst.appctl('dpctl/ct-get-limits'));
      sections.push({ title: 'dpctl/ct-get-limits', lines: lim });
    }
    return { sections };
  }

  async send(step: SendStep): Promise<Verdict> {
    this.checkOpen();
    if (!this.plan) throw new OvsError('CTO_OVS_STATE', 'send() before a successful load()');
    checkTraceTime(step.time, `packet on port ${step.port}`, OVS_MAX_TIME_MS, 'the ovs target');
    if (step.time < this.prevTime) {
      throw new OvsError('CTO_OVS_STATE', `trace time ${step.time} ms is not an integer ≥ the previous ${this.prevTime} ms (OVS time cannot go back; call reset())`);
    }
    if (step.frame.length < OVS_MIN_FRAME) throw new OvsError('CTO_OVS_INJECT', `runt frame of ${step.frame.length} bytes: OVS cannot inject a frame shorter than an Ethernet header (${OVS_MIN_FRAME} bytes)`);
    if (step.frame.length > OVS_MAX_FRAME) throw new OvsError('CTO_OVS_INJECT', `oversize frame of ${step.frame.length} bytes: over the ${OVS_MAX_FRAME} bytes an OpenFlow packet-in can carry back from OVS`);
    const inst = this.instance;
    this.checkStray();
    await this.warpTo(step.time);
    await inst.ensurePorts([step.port]);
    if (isFragment(step.frame)) this.fragmentsSent = true;

    const seq = ++this.seq >>> 0;
    const collected: PacketIn[] = [];
    this.collecting = collected;
    let timer: NodeJS.Timeout | undefined;
    const sentinelSeen = new Promise<void>((resolve, reject) => {
      this.waiter = { seq, resolve, reject };
      timer = setTimeout(() => {
        this.waiter = null;
        reject(new OvsError('CTO_OVS_TIMEOUT', `no sentinel packet-in within ${this.packetTimeoutMs} ms after a packet on port ${step.port}\n${inst.logTail(5)}`));
      }, this.packetTimeoutMs);
    });
    try {
      const pname = `p${step.port}`;
      const injected = inst.appctl('netdev-dummy/receive', pname, toHex(step.frame)).catch((e: unknown) => {
        throw e instanceof OvsError && e.code === 'CTO_OVS_COMMAND'
          ? new OvsError('CTO_OVS_INJECT', e.message, e.command, e.detail, { cause: e })
          : e;
      });
      const sentinel = inst.appctl('netdev-dummy/receive', pname, this.sentinelHex(seq));
      // If the packet is refused, the sentinel still comes through; report the refusal.
      await Promise.all([injected, sentinel, sentinelSeen]);
    } finally {
      clearTimeout(timer);
      this.collecting = null;
      this.waiter = null;
    }

    const lookups: CtLookup[] = [];
    const ctrl: VerdictOutput[] = [];
    for (const p of collected) {
      const u = p.userdata;
      if (u && u.length === 5 && USERDATA_LOOKUP.every((b, i) => u[i] === b)) {
        lookups.push({ table: u[4]!, state: p.ctState, zone: p.ctZone, mark: p.ctMark, label: p.ctLabel });
      } else {
        ctrl.push({ port: PORT_CONTROLLER, bytes: p.data });
      }
    }
    const outputs: VerdictOutput[] = [];
    const portNums = [...inst.ports.keys()].sort((a, b) => a - b);
    for (const n of portNums) {
      for (const bytes of inst.ports.get(n)!.poll()) outputs.push({ port: n, bytes });
    }
    outputs.push(...ctrl);
    return { outputs, lookups };
  }

  private sentinelHex(seq: number): string {
    const f = Buffer.alloc(60);
    Buffer.from(macBytes(SENTINEL_DST)).copy(f, 0);
    Buffer.from(macBytes(SENTINEL_SRC)).copy(f, 6);
    f.writeUInt16BE(SENTINEL_ETHERTYPE, 12);
    f.writeUInt32BE(SENTINEL_MAGIC, 14);
    f.writeUInt32BE(seq >>> 0, 18);
    return f.toString('hex');
  }

  /** Move OVS's stopped clock forward to trace time `time` and wait for the sweeper (below). */
  private async warpTo(time: number): Promise<void> {
    if (time <= this.prevTime) return;
    // Both times are checked integers ≤ OVS_MAX_TIME_MS: String() is exact decimal text here.
    await this.instance.appctl('time/warp', String(time - this.prevTime));
    this.prevTime = time;
    await this.sweepBarrier();
  }

  /**
   * After a warp the conntrack sweeper (lib/conntrack.c `clean_thread_main`, woken by the warp
   * through `timewarp_seq`) deletes expired entries and only then releases their zone-limit
   * counts and the parent's ALG expectations (§6.2, §2.8). Lookups ignore expired entries by
   * themselves, but limit enforcement and expectation matching see unswept entries, so the
   * barrier runs after every warp (it costs two unixctl round trips; the warp itself costs
   * 10 ms inside OVS, lib/timeval.c `timewarp_work`). Barrier instead of a sleep: `conntrack_dump_next` skips expired
   * entries while `ct-get-nconns` counts every entry not yet swept, so the two agree exactly
   * when the sweep is complete. (A full sweep visits every list, `ct_sweep`.)
   */
  private async sweepBarrier(): Promise<void> {
    const inst = this.instance;
    const deadline = Date.now() + this.packetTimeoutMs;
    for (;;) {
      const [n, dump] = await Promise.all([inst.appctl('dpctl/ct-get-nconns'), inst.appctl('dpctl/dump-conntrack')]);
      const dumped = textLines(dump).length;
      if (Number(n.trim()) === dumped) return;
      if (Date.now() > deadline) {
        throw new OvsError('CTO_OVS_TIMEOUT', `conntrack sweeper did not catch up after a time warp (nconns ${n.trim()}, live ${dumped})`);
      }
      await new Promise((r) => setTimeout(r, 1));
    }
  }

  private checkStray(): void {
    const inst = this.instance;
    const late: string[] = [...this.stray];
    this.stray = [];
    for (const [n, tail] of inst.ports) {
      const recs = tail.poll();
      if (recs.length) late.push(`${recs.length} packet(s) on port ${n} outside a send`);
    }
    if (late.length) {
      throw new OvsError('CTO_OVS_PROTOCOL', `attribution broken: ${late.join('; ')}`);
    }
  }

  async reset(): Promise<void> {
    this.checkOpen();
    if (!this.policy) {
      this.prevTime = 0;
      return;
    }
    if (this.fragmentsSent) {
      // Held fragments survive flush-conntrack and would surface later (§9.4): start afresh.
      const policy = this.policy;
      this.sticky = true;
      await this.load(policy);
      return;
    }
    const inst = this.instance;
    this.checkStray();
    await inst.appctl('dpctl/flush-conntrack');
    const n = (await inst.appctl('dpctl/ct-get-nconns')).trim();
    if (n !== '0') throw new OvsError('CTO_OVS_COMMAND', `dpctl/flush-conntrack left ${n} connections`);
    // The daemon clock keeps running forward; trace time 0 is "now" from here on.
    this.prevTime = 0;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const inst = this.inst;
    this.inst = null;
    await inst?.close();
  }

  async versions(): Promise<Record<string, string>> {
    const inst = this.instance;
    const v = await inst.appctl('version');
    return { 'ovs-vswitchd': v.trim().split('\n')[0] ?? '', datapath: 'dummy' };
  }

  /** The flow text actually given to OVS (for reports and debugging). */
  get loadedFlows(): string | null {
    return this.plan?.flowsText ?? null;
  }

  /** ovs-vswitchd.log so far (for reports). */
  log(): string {
    try {
      return readFileSync(`${this.instance.runDir}/ovs-vswitchd.log`, 'utf8');
    } catch {
      return '';
    }
  }

  private checkOpen(): void {
    if (this.closed) throw new OvsError('CTO_OVS_STATE', 'OVS target used after close()');
  }
}
