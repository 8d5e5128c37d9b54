/**
 * Offload configuration: what the hardware decides and what goes to the software slow path.
 *
 * Defaults mirror what NIC conntrack offload does in practice (Linux TC flower `ct` offload,
 * NVIDIA/Mellanox CT offload, OVS-DOCA): only *established* TCP and UDP connections are put in
 * hardware; everything new, closing or unusual is decided by software, which commits and then
 * installs the entries. `--config FILE` of `ctoffload generate` is this object as JSON; every
 * key is optional and validated with an error naming the key (CTO_OFFLOAD_CONFIG).
 */
import { OffloadConfigError } from './errors.js';

export type OffloadMode = 'established-tcp-udp' | 'all-committed';

/** A group of zones sharing one conntrack table (per pipeline stage that looks them up). */
export interface ZoneSet {
  /** P4 identifier used in table names: `<name>_s<stage>`. */
  name: string;
  zones: number[];
  /** Entries per table; default `tableSizes.conntrack`. */
  size?: number;
}

export interface SlowPathConfig {
  /**
   * Punt TCP packets with SYN, FIN or RST (or without ACK) that hit an entry, so every TCP state
   * transition happens in software. Off: the entry decides (state stays as installed).
   */
  tcpFlags: boolean;
  /** Punt ICMP/ICMPv6 errors at a ct lookup (they need a related lookup). Off: dropped in hardware. */
  icmpErrors: boolean;
  /** Punt IP fragments at a ct lookup (reassembly is software only). Off: dropped in hardware. */
  fragments: boolean;
  /** Punt packets that match no flow of a policy table. Off: dropped in hardware. */
  policyMiss: boolean;
}

export interface OffloadConfig {
  /** Zones whose connections may be offloaded; 'all' = every zone the policy's ct() actions use. */
  zones: 'all' | number[];
  /** Partition of the offloaded zones into conntrack tables; default one set 'conntrack'. */
  zoneSets?: ZoneSet[];
  offload: OffloadMode;
  tableSizes: { conntrack: number; policy: number };
  slowPath: SlowPathConfig;
  /**
   * Observation build (offload/probe.ts), for testing only; default false (the production
   * program). On: a frame starting with the probe magic is parsed as an input probe (ECHO skips
   * the policy, REPORT_DROP turns a drop into a PacketIn), and every output, drop report and
   * `controller` PacketIn carries the probe header with the packet's ct lookups. The harness's
   * bmv2 target asks for it; `ctoffload generate --probe` writes it. A test proves it equal to
   * the production build but for observation (test/offload/observation-equality.ts, run with p4c by observation-equality-{a,b}.test.ts).
   */
  probe: boolean;
  /** bmv2 `--cpu-port`: > 0, fits v1model's 9 bits, not the drop port 511 (docs/p4-target-interfaces.md §5.1). */
  cpuPort: number;
  /** Unrolled pipeline stages (policy table visits per packet); deeper paths are punted. */
  maxStages: number;
  /** Direct counters on the policy tables too (the conntrack tables always have them). */
  policyCounters: boolean;
}

export const DEFAULT_CPU_PORT = 510;
/** v1model/bmv2 drop port (`--drop-port`, default 511; docs/p4-target-interfaces.md §5.1, §7.2). */
export const DROP_PORT = 511;

export const DEFAULT_CONFIG: Readonly<OffloadConfig> = Object.freeze({
  zones: 'all',
  offload: 'established-tcp-udp',
  tableSizes: Object.freeze({ conntrack: 65536, policy: 1024 }),
  slowPath: Object.freeze({ tcpFlags: true, icmpErrors: true, fragments: true, policyMiss: true }),
  probe: false,
  cpuPort: DEFAULT_CPU_PORT,
  maxStages: 8,
  policyCounters: true,
}) as OffloadConfig;

const TOP_KEYS = ['zones', 'zoneSets', 'offload', 'tableSizes', 'slowPath', 'probe', 'cpuPort', 'maxStages', 'policyCounters'];
const P4_IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;
const P4_KEYWORDS = new Set(['action', 'apply', 'bit', 'bool', 'const', 'control', 'default', 'else', 'enum', 'error', 'exit', 'extern', 'false', 'header', 'if', 'in', 'inout', 'int', 'key', 'match_kind', 'out', 'package', 'parser', 'return', 'select', 'state', 'struct', 'switch', 'table', 'transition', 'true', 'tuple', 'typedef', 'varbit', 'void', 'entries', 'actions', 'size']);

/**
 * Validate a (partial) configuration, typically parsed JSON, and fill in the defaults.
 * `source` names the file in error messages.
 */
export function resolveConfig(input: unknown = {}, source = '<config>'): OffloadConfig {
  const fail = (key: string, msg: string): never => {
    throw new OffloadConfigError(key, msg, source);
  };
  if (input === null || typeof input !== 'object' || Array.isArray(input)) fail('(root)', 'must be a JSON object');
  const o = input as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!TOP_KEYS.includes(k)) fail(k, `unknown key (expected one of ${TOP_KEYS.join(', ')})`);

  const int = (key: string, v: unknown, min: number, max: number): number => {
    if (typeof v !== 'number' || !Number.isInteger(v)) fail(key, `must be an integer, got ${JSON.stringify(v)}`);
    if ((v as number) < min || (v as number) > max) fail(key, `must be in ${min}..${max}, got ${v}`);
    return v as number;
  };
  const bool = (key: string, v: unknown): boolean => {
    if (typeof v !== 'boolean') fail(key, `must be true or false, got ${JSON.stringify(v)}`);
    return v as boolean;
  };
  const zoneList = (key: string, v: unknown): number[] => {
    if (!Array.isArray(v)) fail(key, 'must be an array of zone numbers (0..65535)');
    const zs = (v as unknown[]).map((z, i) => int(`${key}[${i}]`, z, 0, 0xffff));
    const seen = new Set<number>();
    zs.forEach((z, i) => {
      if (seen.has(z)) fail(`${key}[${i}]`, `zone ${z} listed twice`);
      seen.add(z);
    });
    return zs;
  };

  const cfg: OffloadConfig = {
    ...DEFAULT_CONFIG,
    tableSizes: { ...DEFAULT_CONFIG.tableSizes },
    slowPath: { ...DEFAULT_CONFIG.slowPath },
  };
  if (o.zones !== undefined) cfg.zones = o.zones === 'all' ? 'all' : zoneList('zones', o.zones);
  if (o.offload !== undefined) {
    if (o.offload !== 'established-tcp-udp' && o.offload !== 'all-committed') {
      fail('offload', `must be 'established-tcp-udp' or 'all-committed', got ${JSON.stringify(o.offload)}`);
    }
    cfg.offload = o.offload as OffloadMode;
  }
  if (o.tableSizes !== undefined) {
    if (typeof o.tableSizes !== 'object' || o.tableSizes === null || Array.isArray(o.tableSizes)) fail('tableSizes', 'must be an object');
    const ts = o.tableSizes as Record<string, unknown>;
    for (const k of Object.keys(ts)) if (k !== 'conntrack' && k !== 'policy') fail(`tableSizes.${k}`, 'unknown key (expected conntrack, policy)');
    if (ts.conntrack !== undefined) cfg.tableSizes.conntrack = int('tableSizes.conntrack', ts.conntrack, 1, 1 << 24);
    if (ts.policy !== undefined) cfg.tableSizes.policy = int('tableSizes.policy', ts.policy, 1, 1 << 20);
  }
  if (o.slowPath !== undefined) {
    if (typeof o.slowPath !== 'object' || o.slowPath === null || Array.isArray(o.slowPath)) fail('slowPath', 'must be an object');
    const sp = o.slowPath as Record<string, unknown>;
    const keys = Object.keys(DEFAULT_CONFIG.slowPath) as (keyof SlowPathConfig)[];
    for (const k of Object.keys(sp)) {
      if (!(keys as string[]).includes(k)) fail(`slowPath.${k}`, `unknown punt reason switch (expected ${keys.join(', ')})`);
      cfg.slowPath[k as keyof SlowPathConfig] = bool(`slowPath.${k}`, sp[k]);
    }
  }
  if (o.probe !== undefined) cfg.probe = bool('probe', o.probe);
  if (o.policyCounters !== undefined) cfg.policyCounters = bool('policyCounters', o.policyCounters);
  if (o.cpuPort !== undefined) {
    cfg.cpuPort = int('cpuPort', o.cpuPort, 1, 510);
  }
  if (o.maxStages !== undefined) cfg.maxStages = int('maxStages', o.maxStages, 1, 32);
  if (o.zoneSets !== undefined) {
    if (!Array.isArray(o.zoneSets) || o.zoneSets.length === 0) fail('zoneSets', 'must be a non-empty array of {name, zones, size?}');
    const names = new Set<string>();
    const owner = new Map<number, string>();
    cfg.zoneSets = (o.zoneSets as unknown[]).map((raw, i) => {
      const key = `zoneSets[${i}]`;
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(key, 'must be an object {name, zones, size?}');
      const r = raw as Record<string, unknown>;
      for (const k of Object.keys(r)) if (!['name', 'zones', 'size'].includes(k)) fail(`${key}.${k}`, 'unknown key (expected name, zones, size)');
      if (typeof r.name !== 'string' || !P4_IDENT.test(r.name) || P4_KEYWORDS.has(r.name)) {
        fail(`${key}.name`, `must be a P4 identifier (letters, digits, _), got ${JSON.stringify(r.name)}`);
      }
      const name = r.name as string;
      if (names.has(name)) fail(`${key}.name`, `name '${name}' used twice`);
      names.add(name);
      const zones = zoneList(`${key}.zones`, r.zones);
      if (zones.length === 0) fail(`${key}.zones`, 'must list at least one zone');
      zones.forEach((z, j) => {
        const prev = owner.get(z);
        if (prev !== undefined) fail(`${key}.zones[${j}]`, `zone ${z} is already in zone set '${prev}'`);
        owner.set(z, name);
        if (cfg.zones !== 'all' && !cfg.zones.includes(z)) fail(`${key}.zones[${j}]`, `zone ${z} is not in 'zones' (not offloaded)`);
      });
      const set: ZoneSet = { name, zones };
      if (r.size !== undefined) set.size = int(`${key}.size`, r.size, 1, 1 << 24);
      return set;
    });
  }
  if (cfg.cpuPort === DROP_PORT) fail('cpuPort', 'must not be the drop port 511');
  return cfg;
}

/** Parse a JSON config file's text (errors name the file). */
export function parseConfigJson(text: string, source = '<config>'): OffloadConfig {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new OffloadConfigError('(root)', `not valid JSON: ${(e as Error).message}`, source);
  }
  return resolveConfig(parsed, source);
}
