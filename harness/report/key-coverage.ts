/**
 * Key and header coverage of the traffic a run sent (issue 16; `PropertyReport.trafficCoverage`,
 * docs/report-schema.md "Traffic coverage"): for every key field the offload matches on — the
 * conntrack key (offload/p4gen.ts CT_KEY: zone, l3, proto, src, dst, sport, dport) and the
 * policy tables' keys (offload/fields.ts) — which bits were seen both 0 and 1; for every parser
 * path of the generated program (harness/report/parser-paths.ts) how often it was taken.
 *
 * A bit that never varies is a bit a NIC key could ignore without any trace noticing. Some
 * fields cannot vary in all bits, whatever the traffic: the zone only takes the policy's zones,
 * l3/dl_type/proto only the protocols generated, in_port only the ports traffic uses. Each field
 * therefore carries `reachable`, the bits the generated traffic can vary (for those fields the
 * bits in which the possible values differ, all bits for the others); coverage is complete
 * when every reachable bit varied and every path was taken.
 *
 * Values are what the hardware keys: read from the frame the way the program's parser reads it
 * (IPv4 addresses in the low 32 bits of src/dst; ICMP queries: sport = id, dport = type<<8|code)
 * and, for the conntrack key, recorded once per ct() lookup the reference made on a packet the
 * hardware can key (docs/offload-design.md §3), with that lookup's zone. Shard reports merge by
 * OR-ing the bit sets and adding the path counts (addTrafficCoverage).
 */
import { compileOffload, CT_KEY, keyField, type KeyFieldName } from '../../offload/index.js';
import { CT_L4_ZERO_PORT, CT_OK, FRAG_NONE, ICMP_QUERY, L3_IPV4, L3_IPV6, L3_NONE, PacketView } from '../../model/packet/view.js';
import { parsePolicy } from '../../model/pipeline/index.js';
import type { CtLookup } from '../../model/verdict.js';
import { parserPaths, type ParserPaths } from './parser-paths.js';
import { hostMac, ROUTER, STRAY } from '../arbitraries/index.js';

export interface KeyBits {
  width: number;
  /** Bits seen 1 / seen 0, as hex (bit 0 = least significant). */
  ones: string;
  zeros: string;
  /** Bits the generated traffic can vary (see the module comment), as hex. */
  reachable: string;
}

export interface TrafficCoverage {
  /** What the default traffic took from the policy (harness/arbitraries fitTraffic). */
  fitted: string[];
  weighting: 'uniform' | 'coverage';
  /** `ct.<field>` (conntrack key) and `table.<field>` (policy table keys). */
  keys: Record<string, KeyBits>;
  parser: {
    paths: string[];
    excluded: Record<string, string>;
    /** Times each path was taken (also `… → reject (too short)`, which is not a program path). */
    taken: Record<string, number>;
  };
}

const hex = (v: bigint): string => `0x${v.toString(16)}`;
const big = (s: string | undefined): bigint => {
  try {
    return s ? BigInt(s) : 0n;
  } catch {
    return 0n;
  }
};
const mask = (w: number): bigint => (1n << BigInt(w)) - 1n;
/** Bits in which values of `vals` differ. */
function differing(vals: Iterable<number | bigint>): bigint {
  let or = 0n;
  let and: bigint | null = null;
  for (const v of vals) {
    const b = BigInt(v);
    or |= b;
    and = and === null ? b : and & b;
  }
  return and === null ? 0n : or & ~and;
}

/** IP protocols the generator produces: TCP, UDP, ICMP, ICMPv6, GRE (harness/arbitraries). */
const PROTOS = [6, 17, 1, 58, 47];
/** ct_state bits the reference can produce without NAT: new est rel rpl inv trk (model/ctstate.ts). */
const CT_STATE_BITS = 0x3fn;

class Acc {
  ones = 0n;
  zeros = 0n;
  constructor(
    readonly width: number,
    readonly reachable: bigint,
  ) {}
  note(v: bigint): void {
    this.ones |= v;
    this.zeros |= ~v & mask(this.width);
  }
}

export interface KeyCoverageSetup {
  policy: { text: string; source: string };
  /** Ports traffic arrives on (the fitted or given port map). */
  ports: number[];
  ipv6: boolean;
  fitted?: string[];
  weighting?: 'uniform' | 'coverage';
}

/**
 * Collects key bits and parser paths packet by packet. Built once per run from the policy (the
 * program is generated with the default offload configuration: its keys and parser do not depend
 * on the configuration).
 */
export class KeyCoverageObserver {
  private readonly ct = new Map<string, Acc>();
  private readonly table = new Map<string, Acc>();
  private readonly taken = new Map<string, number>();
  private readonly view = new PacketView();
  private readonly parser: ParserPaths;

  constructor(private readonly setup: KeyCoverageSetup) {
    const prog = compileOffload(setup.policy.text, setup.policy.source);
    this.parser = parserPaths(prog.program);
    const policy = parsePolicy(setup.policy.text, setup.policy.source);
    const zones = new Set<number>();
    let markBits = 0n;
    let labelBits = 0n;
    for (const f of policy.flows)
      for (const a of f.actions)
        if (a.kind === 'ct') {
          zones.add(a.zone);
          for (const w of a.exec) if (w.field === 'ct_mark') markBits |= w.mask;
          else labelBits |= w.mask;
        }
    const l3s = setup.ipv6 ? [0x0800, 0x86dd] : [0x0800];
    // IPv6 reaches a ct() only if a table-0 flow that admits IPv6 (dl_type 0x86dd or no
    // dl_type) calls ct() or goes on to another table; otherwise the conntrack key only ever
    // holds IPv4 (low 32 address bits, l3 0x0800).
    const v6ct = setup.ipv6 && policyCtSeesIpv6(policy);
    const ctL3s = v6ct ? l3s : [0x0800];
    const macs: bigint[] = [];
    for (const side of ['inside', 'outside'] as const)
      for (const fam of setup.ipv6 ? ([4, 6] as const) : ([4] as const))
        for (const h of [0, 1, 2, ROUTER, STRAY]) macs.push(BigInt(`0x${hostMac(side, fam, h).replace(/:/g, '')}`));
    const reach: Record<string, bigint> = {
      zone: differing(zones),
      l3: differing(ctL3s),
      proto: differing(v6ct ? PROTOS : PROTOS.filter((p) => p !== 58)),
      src: v6ct ? mask(128) : mask(32),
      dst: v6ct ? mask(128) : mask(32),
    };
    for (const [name, width] of CT_KEY) this.ct.set(name, new Acc(width, reach[name] ?? mask(width)));
    const keys = new Set<KeyFieldName>();
    for (const st of prog.plan.stageTables) for (const k of st.keys) keys.add(k);
    const tableReach: Partial<Record<KeyFieldName, bigint>> = {
      in_port: differing(setup.ports),
      dl_type: differing([...l3s, 0x0806]),
      nw_proto: differing(PROTOS),
      // The generator's MACs (harness/arbitraries hostMac), and broadcast (ARP) as destination.
      dl_src: differing(macs),
      dl_dst: differing([...macs, 0xffff_ffff_ffffn]),
      tcp_flags: 0xffn,
      ct_state: CT_STATE_BITS,
      ct_zone: differing(zones),
      ct_mark: markBits,
      ct_label: labelBits,
    };
    for (const k of [...keys].sort()) {
      const w = keyField(k).width;
      this.table.set(k, new Acc(w, (tableReach[k] ?? mask(w)) & mask(w)));
    }
  }

  /** One packet: `port` and `frame` as sent, `lookups` the reference's ct() lookups for it. */
  observe(port: number, frame: Uint8Array, lookups: readonly CtLookup[]): void {
    for (const p of this.parser.walk(frame, port)) this.taken.set(p, (this.taken.get(p) ?? 0) + 1);
    const v = this.view.parse(frame);
    const ip = v.l3 !== L3_NONE;
    const words = (w: Uint32Array): bigint => (v.l3 === L3_IPV4 ? BigInt(w[0]!) : (BigInt(w[0]!) << 96n) | (BigInt(w[1]!) << 64n) | (BigInt(w[2]!) << 32n) | BigInt(w[3]!));
    const icmpQuery = v.icmpClass === ICMP_QUERY;
    const sport = BigInt(icmpQuery ? v.icmpId : v.sport);
    const dport = BigInt(icmpQuery ? ((v.icmpType & 0xff) << 8) | (v.icmpCode & 0xff) : v.dport);
    const ext = v.l3 === L3_IPV6 && [0, 43, 60, 51].includes(frame[v.l3Off + 6]!);
    const keyable = ip && v.frag === FRAG_NONE && !ext && (v.ctStatus === CT_OK || v.ctStatus === CT_L4_ZERO_PORT);
    if (keyable && lookups.length) {
      const src = words(v.src);
      const dst = words(v.dst);
      for (const l of lookups) {
        this.ct.get('zone')?.note(BigInt(l.zone));
        this.ct.get('l3')?.note(BigInt(v.ethType));
        this.ct.get('proto')?.note(BigInt(v.ipProto));
        this.ct.get('src')?.note(src);
        this.ct.get('dst')?.note(dst);
        this.ct.get('sport')?.note(sport);
        this.ct.get('dport')?.note(dport);
      }
    }
    if (this.table.size === 0) return;
    const last = lookups[lookups.length - 1];
    const mac = (o: number): bigint => frame.length >= o + 6 ? frame.subarray(o, o + 6).reduce((a, b) => (a << 8n) | BigInt(b), 0n) : 0n;
    const l4 = ip && v.frag === FRAG_NONE;
    for (const [k, acc] of this.table) {
      let x: bigint | null = null;
      switch (k) {
        case 'in_port': x = BigInt(port & 0x1ff); break;
        case 'dl_src': x = mac(6); break;
        case 'dl_dst': x = mac(0); break;
        case 'dl_type': x = frame.length >= 14 ? BigInt(v.ethType) : null; break;
        case 'dl_vlan': x = BigInt(v.vlanTci >= 0 ? v.vlanTci | 0x1000 : 0); break;
        case 'nw_src': x = v.l3 === L3_IPV4 ? words(v.src) : null; break;
        case 'nw_dst': x = v.l3 === L3_IPV4 ? words(v.dst) : null; break;
        case 'ipv6_src': x = v.l3 === L3_IPV6 ? words(v.src) : null; break;
        case 'ipv6_dst': x = v.l3 === L3_IPV6 ? words(v.dst) : null; break;
        case 'nw_proto': x = ip ? BigInt(v.ipProto) : null; break;
        case 'tp_src': x = l4 ? BigInt(v.icmpClass !== 0 ? v.icmpType : v.sport) : null; break;
        case 'tp_dst': x = l4 ? BigInt(v.icmpClass !== 0 ? v.icmpCode : v.dport) : null; break;
        case 'tcp_flags': x = l4 && v.ipProto === 6 ? BigInt(v.tcpFlags & 0xfff) : null; break;
        // Before any ct() the ct fields are 0 (untracked), as in the program's meta.ct.
        case 'ct_state': x = last ? BigInt(last.state) : 0n; break;
        case 'ct_zone': x = last ? BigInt(last.zone) : 0n; break;
        case 'ct_mark': x = last ? BigInt(last.mark >>> 0) : 0n; break;
        case 'ct_label': x = last ? last.label : 0n; break;
      }
      if (x !== null) acc.note(x & mask(acc.width));
    }
  }

  report(): TrafficCoverage {
    const keys: Record<string, KeyBits> = {};
    const out = (prefix: string, m: Map<string, Acc>): void => {
      for (const [k, a] of m) keys[`${prefix}.${k}`] = { width: a.width, ones: hex(a.ones), zeros: hex(a.zeros), reachable: hex(a.reachable) };
    };
    out('ct', this.ct);
    out('table', this.table);
    return {
      fitted: [...(this.setup.fitted ?? [])],
      weighting: this.setup.weighting ?? 'uniform',
      keys,
      parser: { paths: [...this.parser.paths], excluded: { ...this.parser.excluded }, taken: Object.fromEntries(this.taken) },
    };
  }
}

/** Does a table-0 flow admitting IPv6 call ct() or continue to another table (see the caller)? */
function policyCtSeesIpv6(policy: ReturnType<typeof parsePolicy>): boolean {
  return policy.flows.some((f) => {
    if (f.table !== 0) return false;
    const dl = f.match.find((m) => m.name === 'dl_type');
    if (dl && dl.value !== 0x86ddn) return false;
    return f.actions.some((a) => a.kind === 'ct' || a.kind === 'resubmit' || a.kind === 'goto_table');
  });
}

/** Bits of a key field seen varying (both 0 and 1). */
export function varyingBits(k: KeyBits): bigint {
  return big(k.ones) & big(k.zeros);
}

function popcount(v: bigint): number {
  let n = 0;
  for (; v > 0n; v >>= 1n) n += Number(v & 1n);
  return n;
}

/** Reachable bits never seen varying, per field (empty when complete). */
export function missingBits(c: TrafficCoverage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, b] of Object.entries(c.keys)) {
    const miss = big(b.reachable) & ~varyingBits(b);
    if (miss !== 0n) out[k] = hex(miss);
  }
  return out;
}

export function untakenPaths(c: TrafficCoverage): string[] {
  return c.parser.paths.filter((p) => !c.parser.taken[p]);
}

/** Adds `from` (a shard's traffic coverage) into `into`: bit sets OR-ed, path counts added. */
export function addTrafficCoverage(into: TrafficCoverage, from: TrafficCoverage): TrafficCoverage {
  for (const n of from.fitted) if (!into.fitted.includes(n)) into.fitted.push(n);
  for (const [k, b] of Object.entries(from.keys)) {
    const a = into.keys[k];
    if (!a) into.keys[k] = { ...b };
    else into.keys[k] = { width: Math.max(a.width, b.width), ones: hex(big(a.ones) | big(b.ones)), zeros: hex(big(a.zeros) | big(b.zeros)), reachable: hex(big(a.reachable) | big(b.reachable)) };
  }
  for (const p of from.parser.paths) if (!into.parser.paths.includes(p)) into.parser.paths.push(p);
  Object.assign(into.parser.excluded, from.parser.excluded);
  for (const [p, n] of Object.entries(from.parser.taken)) into.parser.taken[p] = (into.parser.taken[p] ?? 0) + n;
  return into;
}

/** Per field: bits seen varying / reachable / width. */
export function keyFieldSummary(c: TrafficCoverage): { field: string; varying: number; reachable: number; width: number; missing: string | null }[] {
  return Object.entries(c.keys).map(([field, b]) => {
    const reach = big(b.reachable);
    const miss = reach & ~varyingBits(b);
    return { field, varying: popcount(varyingBits(b) & reach), reachable: popcount(reach), width: b.width, missing: miss ? hex(miss) : null };
  });
}

/** One line for the CLI summary. */
export function trafficCoverageLine(c: TrafficCoverage): string {
  const s = keyFieldSummary(c);
  const full = s.filter((f) => f.missing === null).length;
  const bits = s.reduce((n, f) => n + f.varying, 0);
  const reach = s.reduce((n, f) => n + f.reachable, 0);
  const untaken = untakenPaths(c);
  const taken = c.parser.paths.length - untaken.length;
  const short = s.filter((f) => f.missing !== null).map((f) => `${f.field} ${f.varying}/${f.reachable}`);
  return (
    `key bits ${bits}/${reach} varied (${full}/${s.length} field(s) complete${short.length ? `; short: ${short.join(', ')}` : ''}); ` +
    `parser paths ${taken}/${c.parser.paths.length} taken${untaken.length ? ` (never: ${untaken.join('; ')})` : ''}`
  );
}
