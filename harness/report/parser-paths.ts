/**
 * Parser paths of the generated program, and the path one frame takes through it (issue 16,
 * "every header shape its parser must handle"). The paths are read from the program's own
 * parser (offload/p4gen.ts, as the typed AST of offload/p4ast.ts): one path per select case
 * (`parse_ethernet 0x88a8 → parse_vlan0`) and per plain transition. A frame is walked through
 * the same states by a small interpreter of what the generated parser uses — `packet.extract`
 * of fixed headers (sizes from the header declarations) and of the IPv4 options varbit, `select`
 * over header fields, bit slices, `standard_metadata.ingress_port` and `packet.lookahead` —
 * matching the case values (numbers, `v &&& m`, tuples, constants, `default`) in order, as P4
 * does (P4-16 spec 12.6). An expression it does not know is an error, not a guess.
 */
import { CtoffloadError } from '../../model/errors.js';
import type { P4Program, ParserState } from '../../offload/index.js';

export interface ParserPaths {
  /** Every path a frame entering on a dataplane port can take, in program order. */
  paths: string[];
  /** Paths a dataplane frame cannot take, with the reason (controller PacketOut, probe build). */
  excluded: Record<string, string>;
  /** Walk one frame (arriving on `port`): the paths it takes, ending with `… → reject` when too short. */
  walk(frame: Uint8Array, port: number): string[];
}

/** The program's parser uses something the walker does not know (CTO_PARSER_PATHS): extend the walker. */
export class ParserPathsError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_PARSER_PATHS', message);
  }
}

interface HeaderInfo {
  bytes: number;
  /** field → [bit offset, width] */
  fields: Map<string, [number, number]>;
}

function num(text: string, consts: Map<string, string>): bigint {
  const t = text.trim();
  const c = consts.get(t);
  if (c !== undefined) return num(c, consts);
  if (/^0x[0-9a-f]+$/i.test(t) || /^\d+$/.test(t)) return BigInt(t);
  throw new ParserPathsError(`parser case value '${text}' is not a number or constant`);
}

function bitsAt(frame: Uint8Array, byteOff: number, bitOff: number, width: number): bigint {
  let v = 0n;
  for (let i = 0; i < width; i++) {
    const bit = bitOff + i;
    const b = frame[byteOff + (bit >> 3)] ?? 0;
    v = (v << 1n) | BigInt((b >> (7 - (bit & 7))) & 1);
  }
  return v;
}

function edge(state: string, value: string | null, next: string): string {
  return value === null ? `${state} → ${next}` : `${state} ${value} → ${next}`;
}

export function parserPaths(program: P4Program): ParserPaths {
  const consts = new Map<string, string>();
  const headerTypes = new Map<string, HeaderInfo>();
  const members = new Map<string, string>(); // hdr member → header type
  let states: ParserState[] = [];
  for (const d of program.decls) {
    if (d.kind === 'const') consts.set(d.name, d.value);
    else if (d.kind === 'header') {
      const fields = new Map<string, [number, number]>();
      let off = 0;
      for (const f of d.fields) {
        fields.set(f.name, [off, f.width]);
        off += f.width;
      }
      headerTypes.set(d.name, { bytes: off >> 3, fields });
    } else if (d.kind === 'struct' && d.name === 'headers_t') for (const m of d.members) members.set(m.name, m.type);
    else if (d.kind === 'parser') states = d.states;
  }
  const byName = new Map(states.map((s) => [s.name, s]));
  // Everything the walker will meet is checked now, so that a walk never throws mid-run.
  for (const s of states) {
    for (const st of s.body) {
      if (st.k !== 'call' || !st.text.trim().startsWith('packet.extract(')) continue;
      const x = /^packet\.extract\(hdr\.(\w+)(?:,\s*(.+))?\)$/.exec(st.text.trim());
      if (!x || !headerTypes.has(members.get(x[1]!) ?? '') || (x[2] !== undefined && !/hdr\.ipv4\.ihl/.test(x[2]))) throw new ParserPathsError(`parser state ${s.name}: '${st.text}' is not an extract the path walker knows`);
    }
    const t = s.transition;
    if (typeof t === 'string') continue;
    for (const e of t.select.split(',')) {
      const x = e.trim();
      if (x !== 'standard_metadata.ingress_port' && !/^packet\.lookahead<bit<\d+>>\(\)$/.test(x) && !/^hdr\.\w+\.\w+(?:\[\d+:\d+\])?$/.test(x)) {
        throw new ParserPathsError(`parser state ${s.name}: select expression '${x}' is not one the path walker knows`);
      }
    }
    for (const c of t.cases) {
      const parts = c.value.trim().replace(/^\((.*)\)$/, '$1').split(',');
      for (const p of parts) for (const v of p.split('&&&')) if (!['default', '_'].includes(v.trim())) num(v, consts);
    }
  }
  const paths: string[] = [];
  const excluded: Record<string, string> = {};
  for (const s of states) {
    const t = s.transition;
    if (typeof t === 'string') paths.push(edge(s.name, null, t));
    else
      for (const c of t.cases) {
        const e = edge(s.name, c.value, c.state);
        if (t.select === 'standard_metadata.ingress_port' && c.value === 'CPU_PORT') excluded[e] = 'controller PacketOut only';
        else if (t.select.startsWith('packet.lookahead') && c.value !== 'default') excluded[e] = 'probe build, harness-injected probes only';
        else paths.push(e);
      }
  }
  // States reachable only through excluded paths are excluded with them.
  const reach = new Set(['start']);
  for (let grew = true; grew; ) {
    grew = false;
    for (const e of paths) {
      const [from, to] = [e.split(' ')[0]!, e.split(' → ')[1]!];
      if (reach.has(from) && !reach.has(to)) reach.add(to), (grew = true);
    }
  }
  for (const e of [...paths]) {
    const from = e.split(' ')[0]!;
    if (!reach.has(from)) {
      excluded[e] = 'reached only from an excluded path';
      paths.splice(paths.indexOf(e), 1);
    }
  }

  const walk = (frame: Uint8Array, port: number): string[] => {
    const taken: string[] = [];
    const hdrAt = new Map<string, number>(); // member → byte offset
    let off = 0;
    const field = (expr: string): bigint => {
      const e = expr.trim();
      if (e === 'standard_metadata.ingress_port') return BigInt(port);
      const la = /^packet\.lookahead<bit<(\d+)>>\(\)$/.exec(e);
      if (la) return bitsAt(frame, off, 0, Number(la[1]));
      const m = /^hdr\.(\w+)\.(\w+)(?:\[(\d+):(\d+)\])?$/.exec(e);
      if (!m) throw new ParserPathsError(`parser select expression '${e}' is not one the path walker knows`);
      const h = headerTypes.get(members.get(m[1]!) ?? '');
      const at = hdrAt.get(m[1]!);
      const f = h?.fields.get(m[2]!);
      if (!h || at === undefined || !f) throw new ParserPathsError(`parser select reads ${e}, not extracted`);
      const v = bitsAt(frame, at, f[0], f[1]);
      if (m[3] === undefined) return v;
      const hi = BigInt(m[3]);
      const lo = BigInt(m[4]!);
      return (v >> lo) & ((1n << (hi - lo + 1n)) - 1n);
    };
    const matches = (caseValue: string, values: bigint[]): boolean => {
      const c = caseValue.trim();
      if (c === 'default' || c === '_') return true;
      const parts = c.startsWith('(') && c.endsWith(')') ? c.slice(1, -1).split(',') : [c];
      if (parts.length !== values.length) throw new ParserPathsError(`parser case '${c}' has ${parts.length} value(s) for ${values.length} select field(s)`);
      return parts.every((p, i) => {
        const t = p.trim();
        if (t === '_' || t === 'default') return true;
        const mm = t.split('&&&');
        if (mm.length === 2) return (values[i]! & num(mm[1]!, consts)) === num(mm[0]!, consts);
        return values[i] === num(t, consts);
      });
    };
    let name = 'start';
    for (let guard = 0; guard < 64; guard++) {
      const s = byName.get(name);
      if (!s) return taken; // accept / reject
      for (const st of s.body) {
        if (st.k !== 'call') continue;
        const x = /^packet\.extract\(hdr\.(\w+)(?:,\s*(.+))?\)$/.exec(st.text.trim());
        if (!x) continue;
        const h = headerTypes.get(members.get(x[1]!) ?? '');
        let bytes = h?.bytes ?? 0;
        if (x[2] !== undefined) {
          // The varbit of the IPv4 options: (ihl - 5) * 32 bits.
          if (!/hdr\.ipv4\.ihl/.test(x[2])) throw new ParserPathsError(`parser extract size '${x[2]}' is not one the path walker knows`);
          bytes = (Number(field('hdr.ipv4.ihl')) - 5) * 4;
        }
        if (off + bytes > frame.length) {
          taken.push(edge(name, null, 'reject (too short)'));
          return taken;
        }
        hdrAt.set(x[1]!, off);
        off += bytes;
      }
      const t = s.transition;
      if (typeof t === 'string') {
        taken.push(edge(name, null, t));
        name = t;
        continue;
      }
      const values = t.select.split(',').map(field);
      const c = t.cases.find((cc) => matches(cc.value, values));
      if (!c) return taken; // no case: reject (P4-16 12.6), not produced by the generator
      taken.push(edge(name, c.value, c.state));
      name = c.state;
    }
    return taken;
  };
  return { paths, excluded, walk };
}
