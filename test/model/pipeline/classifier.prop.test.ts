/**
 * Tuple space search (model/pipeline/classifier.ts) against the reference linear scan:
 * 1. on compiled flows with random fields, masks, values and priorities and random packet field
 *    words, both answer the very same flow (highest priority, ties by file order);
 * 2. whole pipelines: random two-table policies with ct() stages and ct_* matches, run over
 *    random packet sequences, give identical traced results whether every table uses the
 *    classifier or every table the scan.
 * Value pools are small so that flows overlap and packets hit, miss and tie often.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Conntrack } from '../../../model/conntrack/index.js';
import { parseIp, parseMac } from '../../../model/packet/addr.js';
import { buildFrame, type FrameSpec } from '../../../model/packet/build.js';
import { FlowTable, TupleSpaceClassifier, linearLookup } from '../../../model/pipeline/classifier.js';
import { type CompiledFlow, compileFlow, toWords } from '../../../model/pipeline/compile.js';
import {
  type Action,
  type Flow,
  MATCH_FIELDS,
  type MatchField,
  type MatchFieldName,
  Pipeline,
  type Policy,
  fullMask,
  matchFieldOrder,
} from '../../../model/pipeline/index.js';

const P = { line: 1, column: 1 };

function bytesToBig(b: Uint8Array): bigint {
  let v = 0n;
  for (const x of b) v = (v << 8n) | BigInt(x);
  return v;
}

/** Masks of a field: exact, a prefix, one of the random ones given, or none (wildcard). */
function maskOf(g: fc.GeneratorValue, width: number): bigint {
  const kind = g(fc.integer, { min: 0, max: 4 });
  if (kind === 0) return fullMask(width);
  if (kind === 1) {
    const p = g(fc.integer, { min: 1, max: width });
    return fullMask(width) - fullMask(width - p);
  }
  if (kind === 2) return 0n;
  return g(fc.bigInt, { min: 0n, max: fullMask(width) });
}

function sortFlows(list: CompiledFlow[]): CompiledFlow[] {
  return list.sort((a, b) => b.priority - a.priority || a.index - b.index);
}

describe('TupleSpaceClassifier ≡ linear scan (compiled flows, random field words)', () => {
  const ct = new Conntrack();
  it('same flow for every packet', () => {
    fc.assert(
      fc.property(fc.gen(), (g) => {
        // A few fields per case, each with a pool of 3 values, so masks and values collide.
        const fids = g(() => fc.uniqueArray(fc.integer({ min: 0, max: MATCH_FIELDS.length - 1 }), { minLength: 1, maxLength: 5 }));
        const pools = fids.map((fid) => {
          const w = MATCH_FIELDS[fid]!.width;
          return g(() => fc.array(fc.bigInt({ min: 0n, max: fullMask(w) }), { minLength: 3, maxLength: 3 }));
        });
        const nFlows = g(fc.integer, { min: 0, max: 60 });
        const flows: CompiledFlow[] = [];
        for (let i = 0; i < nFlows; i++) {
          const match: MatchField[] = [];
          fids.forEach((fid, k) => {
            if (!g(fc.boolean)) return;
            const w = MATCH_FIELDS[fid]!.width;
            const mask = maskOf(g, w);
            const value = pools[k]![g(fc.integer, { min: 0, max: 2 })]! & mask;
            match.push({ name: MATCH_FIELDS[fid]!.name, value, mask, pos: P });
          });
          match.sort((a, b) => matchFieldOrder(a.name) - matchFieldOrder(b.name));
          const flow: Flow = { table: 0, priority: g(fc.integer, { min: 0, max: 4 }), cookie: null, match, actions: [], pos: P, text: '' };
          flows.push(compileFlow(flow, i, ct));
        }
        // Now and then an exact duplicate (same match and priority): file order must decide.
        if (flows.length && g(fc.boolean)) {
          const f = flows[g(fc.integer, { min: 0, max: flows.length - 1 })]!;
          flows.push(compileFlow(f.flow, flows.length, ct));
        }
        // The classifier does not rely on the input order (built here from reversed file order).
        const tss = new TupleSpaceClassifier([...flows].reverse());
        const sorted = sortFlows([...flows]);
        const table = new FlowTable(sorted, 'tuple-space');
        expect(table.classifier).not.toBeNull();
        const nPkts = g(fc.integer, { min: 1, max: 20 });
        const words = new Uint32Array(4);
        for (let p = 0; p < nPkts; p++) {
          const fw = new Int32Array(MATCH_FIELDS.length * 4);
          fids.forEach((fid, k) => {
            const w = MATCH_FIELDS[fid]!.width;
            const v = g(fc.boolean) ? pools[k]![g(fc.integer, { min: 0, max: 2 })]! : g(fc.bigInt, { min: 0n, max: fullMask(w) });
            toWords(v, words, 0);
            for (let j = 0; j < 4; j++) fw[fid * 4 + j] = words[j]! | 0;
          });
          // Compare by file index: a failing run then prints two numbers, not two flows.
          const ref = linearLookup(sorted, fw)?.index ?? -1;
          expect(tss.lookup(fw)?.index ?? -1).toBe(ref);
          expect(table.lookup(fw)?.index ?? -1).toBe(ref);
        }
      }),
      { numRuns: 400, interruptAfterTimeLimit: 10_000 },
    );
  });
});

// ---- whole pipelines ----------------------------------------------------------------------

const V4 = ['10.0.0.1', '10.0.0.2', '10.0.1.1'];
const V6 = ['fd00::1', 'fd00::2'];
const MACS = ['00:00:00:00:00:01', '00:00:00:00:00:02'];
const PORTS = [1, 2, 80];

/** Value pool per field, in the packets' own vocabulary (pipeline test). */
function poolOf(name: MatchFieldName): bigint[] {
  switch (name) {
    case 'in_port':
      return [1n, 2n, 3n];
    case 'dl_src':
    case 'dl_dst':
      return MACS.map((m) => bytesToBig(parseMac(m)));
    case 'dl_type':
      return [0x0800n, 0x86ddn, 0x0806n];
    case 'dl_vlan':
      return [0n, 0x1000n | 5n, 0x1000n | 7n];
    case 'nw_src':
    case 'nw_dst':
    case 'ct_nw_src':
    case 'ct_nw_dst':
      return V4.map((a) => bytesToBig(parseIp(a)));
    case 'ipv6_src':
    case 'ipv6_dst':
    case 'ct_ipv6_src':
    case 'ct_ipv6_dst':
      return V6.map((a) => bytesToBig(parseIp(a)));
    case 'nw_proto':
    case 'ct_nw_proto':
      return [6n, 17n, 1n, 58n];
    case 'tp_src':
    case 'tp_dst':
    case 'ct_tp_src':
    case 'ct_tp_dst':
      return [...PORTS.map(BigInt), 8n, 0n];
    case 'tcp_flags':
      return [0x002n, 0x012n, 0x010n, 0x004n];
    case 'ct_state':
      // trk, trk|new, trk|est, trk|est|rpl, trk|inv, untracked
      return [0x20n, 0x21n, 0x22n, 0x2an, 0x30n, 0n];
    case 'ct_zone':
      return [0n, 1n, 2n];
    case 'ct_mark':
      return [0n, 1n, 3n];
    case 'ct_label':
      return [0n, 1n, 1n << 100n];
    default:
      // conj_id, metadata, registers: 0 in these policies (nothing writes them).
      return [0n, 1n];
  }
}

function randomMatch(g: fc.GeneratorValue, names: MatchFieldName[]): MatchField[] {
  const match: MatchField[] = [];
  for (const name of names) {
    if (g(fc.boolean)) continue;
    const pool = poolOf(name);
    const w = MATCH_FIELDS[matchFieldOrder(name)]!.width;
    const mask = maskOf(g, w);
    match.push({ name, value: pool[g(fc.integer, { min: 0, max: pool.length - 1 })]! & mask, mask, pos: P });
  }
  return match.sort((a, b) => matchFieldOrder(a.name) - matchFieldOrder(b.name));
}

function randomFrame(g: fc.GeneratorValue): FrameSpec {
  const v6 = g(fc.integer, { min: 0, max: 3 }) === 0;
  const addrs = v6 ? V6 : V4;
  const src = addrs[g(fc.integer, { min: 0, max: addrs.length - 1 })]!;
  const dst = addrs[g(fc.integer, { min: 0, max: addrs.length - 1 })]!;
  const port = (): number => PORTS[g(fc.integer, { min: 0, max: PORTS.length - 1 })]!;
  const spec: FrameSpec = {
    ethSrc: MACS[g(fc.integer, { min: 0, max: 1 })]!,
    ethDst: MACS[g(fc.integer, { min: 0, max: 1 })]!,
    ip: { src, dst },
  };
  if (g(fc.integer, { min: 0, max: 4 }) === 0) spec.vlan = g(fc.constantFrom, 5, 7);
  const l4 = g(fc.integer, { min: 0, max: 3 });
  if (l4 === 0) spec.tcp = { sport: port(), dport: port(), flags: g(fc.constantFrom, 'S', 'SA', 'A', 'R'), seq: 1000, ack: 0 };
  else if (l4 === 1) spec.udp = { sport: port(), dport: port() };
  else if (l4 === 2) spec.icmp = { type: v6 ? 128 : 8, id: port() };
  else {
    delete spec.ip;
    spec.ethType = 0x0806;
  }
  return spec;
}

const ALL_FIELDS = MATCH_FIELDS.map((f) => f.name);

function randomPolicy(g: fc.GeneratorValue): Policy {
  // A few fields per policy, so that flows overlap and packets hit several of them.
  const names = (): MatchFieldName[] => g(() => fc.uniqueArray(fc.constantFrom(...ALL_FIELDS), { minLength: 1, maxLength: 5 }));
  const flows: Flow[] = [];
  const add = (table: number, match: MatchField[], actions: Action[], priority = g(fc.integer, { min: 0, max: 5 })): void => {
    flows.push({ table, priority, cookie: null, match, actions, pos: { line: flows.length + 1, column: 1 }, text: '' });
  };
  const ctAct = (table: number | null, commit: boolean, mark: boolean): Action => ({
    kind: 'ct',
    commit,
    force: false,
    zone: g(fc.integer, { min: 0, max: 2 }),
    table,
    alg: null,
    timeout: null,
    exec: mark ? [{ field: 'ct_mark', value: 1n, mask: 1n, pos: P }] : [],
    pos: P,
  });
  const out = (): Action => ({ kind: 'output', port: 100 + flows.length, pos: P });
  let fields = names();
  // Table 0: header matches; most flows send the packet through ct() into table 1.
  const n0 = g(fc.integer, { min: 0, max: 30 });
  for (let i = 0; i < n0; i++) {
    const k = g(fc.integer, { min: 0, max: 3 });
    const acts: Action[] = k === 0 ? [out()] : k === 1 ? [] : [ctAct(1, g(fc.boolean), g(fc.boolean)), ...(k === 3 ? [out()] : [])];
    add(0, randomMatch(g, fields), acts);
  }
  add(0, [], [ctAct(1, false, false)], 0);
  // Table 1: any field, ct_* included; some flows commit, some resubmit to table 2.
  fields = names();
  const n1 = g(fc.integer, { min: 0, max: 40 });
  for (let i = 0; i < n1; i++) {
    const k = g(fc.integer, { min: 0, max: 4 });
    const acts: Action[] =
      k === 0 ? [ctAct(null, true, g(fc.boolean)), out()] : k === 1 ? [{ kind: 'resubmit', table: 2, pos: P }, out()] : k === 2 ? [] : [out()];
    add(1, randomMatch(g, fields), acts);
  }
  fields = names();
  const n2 = g(fc.integer, { min: 0, max: 20 });
  for (let i = 0; i < n2; i++) add(2, randomMatch(g, fields), [out()]);
  return {
    source: 'random.flows',
    flows,
    tables: [...new Set(flows.map((f) => f.table))].sort((a, b) => a - b),
    timeoutPolicies: new Map(),
    zoneLimits: new Map(),
    defaultLimit: null,
    ipf: { v4: true, v6: true },
    directiveLines: new Set(),
    directives: [],
    warnings: [],
  };
}

describe('Pipeline: tuple space search ≡ linear scan on random policies', () => {
  it('identical traced results packet by packet', () => {
    fc.assert(
      fc.property(fc.gen(), (g) => {
        const policy = randomPolicy(g);
        const tss = new Pipeline(policy, new Conntrack(), { classifier: 'tuple-space' });
        const lin = new Pipeline(policy, new Conntrack(), { classifier: 'linear' });
        const nPkts = g(fc.integer, { min: 1, max: 25 });
        for (let i = 0; i < nPkts; i++) {
          const frame = buildFrame(randomFrame(g));
          const port = g(fc.integer, { min: 1, max: 3 });
          const a = tss.processTraced(frame, port, i * 10);
          const b = lin.processTraced(frame, port, i * 10);
          expect(a).toEqual(b);
        }
      }),
      { numRuns: 250, interruptAfterTimeLimit: 20_000 },
    );
  });
});
