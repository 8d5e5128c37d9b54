/**
 * The comparator: two Verdicts for one input packet → typed differences, then the exceptions
 * table (harness/exceptions.ts) decides which of them are excused.
 *
 * What is compared, and how:
 *  - Outputs are first normalised with `normalizeOutputs` (stable sort by port ascending,
 *    `controller` last, emission order kept within a port). That is the order the OVS target
 *    reports (harness/targets/ovs/target.ts: tx pcaps give no cross-port order), so any target
 *    can be compared with any other. Then, port by port: outputs equal in bytes are matched as
 *    a multiset; if everything matched but the per-port sequence differs → `output-order`;
 *    unmatched outputs are paired in order → `output-bytes` (with the first differing byte),
 *    leftovers → `outputs-missing` / `outputs-extra`.
 *  - `VerdictOutput.ct` is compared (`output-ct`) only when BOTH sides report it: the OVS target
 *    leaves it undefined, and an absent value is "not observed", not "untracked".
 *  - Lookups (recirculating `ct(table=T)` results) are compared by index: a length mismatch is
 *    one `lookup-count` difference, and the common prefix is compared field by field
 *    (`lookup-table`, `ct-state`, `ct-zone`, `ct-mark`, `ct-label`).
 *  - The original-direction tuple (`ct_nw_src` …) is not part of the Verdict; see
 *    `tupleVisible` for the rule to apply if it is ever added (docs/conntrack-semantics.md §1.6).
 */
import { formatCtState } from '../../model/ctstate.js';
import { CS_ESTABLISHED, CS_NEW, CS_REPLY_DIR } from '../../model/ctstate.js';
import { PORT_CONTROLLER, type CtFields, type CtLookup, type Verdict, type VerdictOutput } from '../../model/verdict.js';
import { EXCEPTIONS, findException, type ExceptionRule } from '../exceptions.js';
import type { Comparison, ComparisonContext, Difference } from './types.js';

/** Port name as OVS prints it. */
export function portName(p: number): string {
  return p === PORT_CONTROLLER ? 'controller' : String(p);
}

/**
 * Outputs in the comparator's canonical order: ascending port, `controller` (0xfffffffd) after
 * every other port, emission order kept within one port (stable sort). Returns a new array.
 */
export function normalizeOutputs(outputs: readonly VerdictOutput[]): VerdictOutput[] {
  const key = (o: VerdictOutput): number => (o.port === PORT_CONTROLLER ? Number.POSITIVE_INFINITY : o.port);
  return outputs.map((o, i) => ({ o, i })).sort((a, b) => key(a.o) - key(b.o) || a.i - b.i).map((x) => x.o);
}

/**
 * Whether OVS exposes the original-direction tuple for a packet (lib/flow.h `is_ct_valid`,
 * lib/flow.c `flow_get_metadata`; docs/conntrack-semantics.md §1.6): state has new, est or rpl and
 * ct_nw_proto is non-zero. (inv|trk and rel|trk packets carry no tuple.)
 */
export function tupleVisible(state: number, ctNwProto: number): boolean {
  return (state & (CS_NEW | CS_ESTABLISHED | CS_REPLY_DIR)) !== 0 && ctNwProto !== 0;
}

export function hex(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function firstDiff(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

export function formatCtFieldsShort(f: CtFields): string {
  return `${formatCtState(f.state)} zone=${f.zone} mark=0x${f.mark.toString(16)} label=0x${f.label.toString(16)}`;
}

function groupByPort(outs: readonly VerdictOutput[]): Map<number, VerdictOutput[]> {
  const m = new Map<number, VerdictOutput[]>();
  for (const o of outs) {
    let l = m.get(o.port);
    if (!l) m.set(o.port, (l = []));
    l.push(o);
  }
  return m;
}

/** Both ct fields reported and equal, or one side does not report them (not compared). */
function ctAgrees(a: CtFields | undefined, b: CtFields | undefined): boolean {
  return !a || !b || (a.state === b.state && a.zone === b.zone && a.mark === b.mark && a.label === b.label);
}

function compareOutputs(exp: readonly VerdictOutput[], obs: readonly VerdictOutput[], out: Difference[]): void {
  // The common case, checked without building anything: the same outputs in the same order
  // (what the general matching below would find, with nothing to report).
  if (exp.length === obs.length) {
    let same = true;
    for (let i = 0; i < exp.length && same; i++) {
      const x = exp[i]!;
      const y = obs[i]!;
      same = x.port === y.port && bytesEqual(x.bytes, y.bytes) && ctAgrees(x.ct, y.ct);
    }
    if (same) return;
  }
  const e = groupByPort(normalizeOutputs(exp));
  const o = groupByPort(normalizeOutputs(obs));
  const ports = [...new Set([...e.keys(), ...o.keys()])].sort((a, b) => (a === PORT_CONTROLLER ? 1 : b === PORT_CONTROLLER ? -1 : a - b));
  for (const port of ports) {
    const el = e.get(port) ?? [];
    const ol = o.get(port) ?? [];
    const pn = portName(port);
    // Multiset match on bytes (first unused equal observed output).
    const used = new Array<boolean>(ol.length).fill(false);
    const pairOf = new Array<number>(el.length).fill(-1);
    el.forEach((x, i) => {
      const j = ol.findIndex((y, k) => !used[k] && bytesEqual(x.bytes, y.bytes));
      if (j >= 0) {
        used[j] = true;
        pairOf[i] = j;
      }
    });
    // Matched pairs: order and output ct fields.
    let orderBroken = false;
    let last = -1;
    el.forEach((x, i) => {
      const j = pairOf[i]!;
      if (j < 0) return;
      if (j < last) orderBroken = true;
      last = j;
      const y = ol[j]!;
      if (x.ct && y.ct && !ctAgrees(x.ct, y.ct)) {
        const a = formatCtFieldsShort(x.ct);
        const b = formatCtFieldsShort(y.ct);
        out.push({ kind: 'output-ct', port, outputIndex: i, expected: a, observed: b, message: `output ${i} on port ${pn}: ct fields expected ${a}, observed ${b}` });
      }
    });
    const unE = el.map((x, i) => ({ x, i })).filter((v) => pairOf[v.i]! < 0);
    const unO = ol.map((y, j) => ({ y, j })).filter((v) => !used[v.j]);
    if (orderBroken && unE.length === 0 && unO.length === 0) {
      out.push({
        kind: 'output-order', port, expected: el.map((x) => hex(x.bytes).slice(0, 16)).join(','), observed: ol.map((y) => hex(y.bytes).slice(0, 16)).join(','),
        message: `port ${pn}: same ${el.length} outputs in a different order`,
      });
    }
    const n = Math.min(unE.length, unO.length);
    for (let k = 0; k < n; k++) {
      const { x, i } = unE[k]!;
      const { y } = unO[k]!;
      const at = firstDiff(x.bytes, y.bytes);
      out.push({
        kind: 'output-bytes', port, outputIndex: i, expected: hex(x.bytes), observed: hex(y.bytes),
        message: `output ${i} on port ${pn}: bytes differ at offset ${at} (expected ${x.bytes.length} bytes, observed ${y.bytes.length})`,
      });
    }
    for (let k = n; k < unE.length; k++) {
      const { x, i } = unE[k]!;
      out.push({ kind: 'outputs-missing', port, outputIndex: i, expected: hex(x.bytes), observed: null, message: `output ${i} on port ${pn} (${x.bytes.length} bytes) missing` });
    }
    for (let k = n; k < unO.length; k++) {
      const { y, j } = unO[k]!;
      out.push({ kind: 'outputs-extra', port, outputIndex: j, expected: null, observed: hex(y.bytes), message: `extra output on port ${pn} (${y.bytes.length} bytes)` });
    }
  }
}

function compareLookups(exp: readonly CtLookup[], obs: readonly CtLookup[], out: Difference[]): void {
  if (exp.length !== obs.length) {
    out.push({
      kind: 'lookup-count', expected: exp.length, observed: obs.length,
      // Built on first read (reports, JSON): against a target that observes no lookups (bmv2)
      // every packet has this difference, excused, and nobody reads its text.
      get message(): string {
        return `ct lookups: expected ${exp.length} [${exp.map((l) => `${l.table}:${formatCtState(l.state)}`).join(' ')}], observed ${obs.length} [${obs.map((l) => `${l.table}:${formatCtState(l.state)}`).join(' ')}]`;
      },
    });
  }
  const n = Math.min(exp.length, obs.length);
  for (let i = 0; i < n; i++) {
    const a = exp[i]!;
    const b = obs[i]!;
    const at = `lookup ${i} (table ${a.table})`;
    if (a.table !== b.table) out.push({ kind: 'lookup-table', lookupIndex: i, expected: a.table, observed: b.table, message: `lookup ${i}: recirculated into table ${b.table}, expected ${a.table}` });
    if (a.state !== b.state) {
      out.push({ kind: 'ct-state', lookupIndex: i, expected: formatCtState(a.state), observed: formatCtState(b.state), message: `${at}: ct_state expected ${formatCtState(a.state)}, observed ${formatCtState(b.state)}` });
    }
    if (a.zone !== b.zone) out.push({ kind: 'ct-zone', lookupIndex: i, expected: a.zone, observed: b.zone, message: `${at}: ct_zone expected ${a.zone}, observed ${b.zone}` });
    if (a.mark !== b.mark) {
      out.push({ kind: 'ct-mark', lookupIndex: i, expected: `0x${a.mark.toString(16)}`, observed: `0x${b.mark.toString(16)}`, message: `${at}: ct_mark expected 0x${a.mark.toString(16)}, observed 0x${b.mark.toString(16)}` });
    }
    if (a.label !== b.label) {
      out.push({ kind: 'ct-label', lookupIndex: i, expected: `0x${a.label.toString(16)}`, observed: `0x${b.label.toString(16)}`, message: `${at}: ct_label expected 0x${a.label.toString(16)}, observed 0x${b.label.toString(16)}` });
    }
  }
}

/** Every difference between `expected` (reference) and `observed` (target), no exceptions applied. */
export function diffVerdicts(expected: Verdict, observed: Verdict): Difference[] {
  const out: Difference[] = [];
  compareLookups(expected.lookups, observed.lookups, out);
  compareOutputs(expected.outputs, observed.outputs, out);
  compareOffload(expected, observed, out);
  return out;
}

/** What the offload did with a packet: 'hardware' or its first punt reason. */
export function offloadOutcome(v: Verdict): string | undefined {
  const p = v.offload?.punts;
  return p === undefined ? undefined : p.length ? p[0]! : 'hardware';
}

/**
 * The offload contract (harness/contract.ts): only when the reference says what is allowed and
 * the target says what it did.
 */
function compareOffload(expected: Verdict, observed: Verdict, out: Difference[]): void {
  const allowed = expected.offload?.allowed;
  const got = offloadOutcome(observed);
  if (!allowed || got === undefined || allowed.includes('*') || allowed.includes(got)) return;
  const want = allowed.join(' or ');
  out.push({
    kind: 'offload-contract',
    expected: want,
    observed: got,
    message:
      got === 'hardware'
        ? `decided in hardware, but the offload contract punts it (${want})`
        : allowed.includes('hardware')
          ? `punted (${got}), but the offload contract has the hardware decide it`
          : `punted for ${got}, but the offload contract punts it for ${want}`,
  });
}

/**
 * Compares two Verdicts for the packet in `ctx` and applies the exceptions table: a difference
 * some row excuses moves to `excused` (with the row id); the rest are real disagreements.
 */
export function compareVerdicts(ctx: ComparisonContext, rules: readonly ExceptionRule[] = EXCEPTIONS): Comparison {
  const res: Comparison = { differences: [], excused: [] };
  for (const d of diffVerdicts(ctx.expected, ctx.observed)) {
    const r = findException(rules, d, ctx);
    if (r) res.excused.push({ diff: d, rule: r.id });
    else res.differences.push(d);
  }
  return res;
}

/** A Verdict on one line: lookups then outputs, e.g. `ct[1]=new|trk z5 → 2(54B)`. */
export function formatVerdict(v: Verdict): string {
  // Zone, mark and label when set: ` z5 m0x1 l0x2`.
  const extra = (c: CtFields): string => `${c.zone ? ` z${c.zone}` : ''}${c.mark ? ` m0x${c.mark.toString(16)}` : ''}${c.label ? ` l0x${c.label.toString(16)}` : ''}`;
  const l = v.lookups.map((x) => `ct[${x.table}]=${formatCtState(x.state)}${extra(x)}`);
  // A target that reports ct fields only with its outputs (bmv2's probe) shows them there.
  const atOutput = l.length === 0 && v.outputs.some((x) => x.ct);
  const ctText = (c: CtFields): string => ` ${c.state === 0 ? 'untracked' : formatCtState(c.state)}${extra(c)}`;
  const o = normalizeOutputs(v.outputs).map((x) => `${portName(x.port)}(${x.bytes.length}B${atOutput && x.ct ? ctText(x.ct) : ''})`);
  return `${l.length ? l.join(', ') : atOutput ? 'ct at output' : 'no ct'} → ${o.length ? o.join(' ') : 'drop'}`;
}

/** A readable multi-line diff of one packet's comparison. */
export function formatComparison(c: Comparison): string {
  const lines = c.differences.map((d) => `  ✗ ${d.kind}: ${d.message}`);
  for (const e of c.excused) lines.push(`  ~ ${e.diff.kind} (excused by ${e.rule}): ${e.diff.message}`);
  return lines.join('\n');
}
