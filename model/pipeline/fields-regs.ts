/**
 * Registers, metadata and field bit ranges ("subfields"): the pipeline state OVS keeps per
 * translation besides the packet, and the names `load`, `set_field`, `move` and
 * `ct(zone=FIELD[a..b])` use for it. The facts (widths, names, what survives recirculation,
 * prerequisites of move sources) are in docs/policy-language.md §1–§2.
 *
 * Executor layout (model/pipeline/exec.ts): the writable state is one Int32Array of
 * `PIPE_WORDS` words — reg0…reg15 at index 0…15, metadata's high and low 32 bits at 16 and 17
 * — so freezing it at a recirculation is one `set` of 18 words.
 */
import type { MatchFieldName, RegisterName } from './ast.js';
import { ETH_TYPE_IPV4 as ETH_TYPE_IP } from '../packet/view.js';

/** Words of pipeline state: 16 registers + metadata (2 words). */
export const PIPE_WORDS = 18;
export const PIPE_METADATA_HI = 16;
export const PIPE_METADATA_LO = 17;

/** What a subfield name refers to. */
export interface SubfieldSpec {
  /** Canonical name as ovs-ofctl prints it (`NXM_NX_REG6`), used when printing for OVS. */
  nxm: string;
  width: number;
  /** Written by load/set_field/move: registers and metadata only (the pipeline never rewrites packets). */
  writable: boolean;
  /** The match field it reads (executor load), or null for xreg (two registers). */
  match: MatchFieldName | null;
  /** xregN: N. */
  xreg?: number;
  /**
   * Prerequisites as lib/meta-flow.c `mf_are_prereqs_ok` (checked by `mf_check_src` against the
   * flow's match): dl_type and optionally nw_proto that the flow must match.
   */
  prereq?: { dlType: number; nwProto?: number; what: string };
}

const REGS: [string, SubfieldSpec][] = [];
for (let i = 0; i < 16; i++) {
  const s: SubfieldSpec = { nxm: `NXM_NX_REG${i}`, width: 32, writable: true, match: `reg${i}` as RegisterName };
  REGS.push([`reg${i}`, s], [`nxm_nx_reg${i}`, s]);
}
for (let i = 0; i < 8; i++) {
  const s: SubfieldSpec = { nxm: `OXM_OF_PKT_REG${i}`, width: 64, writable: true, match: null, xreg: i };
  REGS.push([`xreg${i}`, s], [`oxm_of_pkt_reg${i}`, s]);
}

const IP = { dlType: ETH_TYPE_IP, what: 'an IPv4 match ("ip")' };

/** Subfield names by lower-cased name (lib/meta-flow.xml names and their NXM/OXM aliases). */
const SPECS = new Map<string, SubfieldSpec>([
  ...REGS,
  ...(['metadata', 'oxm_of_metadata'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'OXM_OF_METADATA', width: 64, writable: true, match: 'metadata' }]),
  // NXM_OF_IN_PORT is the 16-bit in_port (MFF_IN_PORT); OXM_OF_IN_PORT is the 32-bit one.
  ...(['in_port', 'nxm_of_in_port'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'NXM_OF_IN_PORT', width: 16, writable: false, match: 'in_port' }]),
  ['oxm_of_in_port', { nxm: 'OXM_OF_IN_PORT', width: 32, writable: false, match: 'in_port' }],
  ...(['ct_zone', 'nxm_nx_ct_zone'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'NXM_NX_CT_ZONE', width: 16, writable: false, match: 'ct_zone' }]),
  ...(['ct_mark', 'nxm_nx_ct_mark'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'NXM_NX_CT_MARK', width: 32, writable: false, match: 'ct_mark' }]),
  ...(['eth_src', 'dl_src', 'nxm_of_eth_src'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'NXM_OF_ETH_SRC', width: 48, writable: false, match: 'dl_src' }]),
  ...(['eth_dst', 'dl_dst', 'nxm_of_eth_dst'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'NXM_OF_ETH_DST', width: 48, writable: false, match: 'dl_dst' }]),
  ...(['ip_src', 'nw_src', 'nxm_of_ip_src'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'NXM_OF_IP_SRC', width: 32, writable: false, match: 'nw_src', prereq: IP }]),
  ...(['ip_dst', 'nw_dst', 'nxm_of_ip_dst'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'NXM_OF_IP_DST', width: 32, writable: false, match: 'nw_dst', prereq: IP }]),
  ...(['tcp_src', 'nxm_of_tcp_src'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'NXM_OF_TCP_SRC', width: 16, writable: false, match: 'tp_src', prereq: { dlType: ETH_TYPE_IP, nwProto: 6, what: 'a TCP match ("tcp")' } }]),
  ...(['tcp_dst', 'nxm_of_tcp_dst'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'NXM_OF_TCP_DST', width: 16, writable: false, match: 'tp_dst', prereq: { dlType: ETH_TYPE_IP, nwProto: 6, what: 'a TCP match ("tcp")' } }]),
  ...(['udp_src', 'nxm_of_udp_src'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'NXM_OF_UDP_SRC', width: 16, writable: false, match: 'tp_src', prereq: { dlType: ETH_TYPE_IP, nwProto: 17, what: 'a UDP match ("udp")' } }]),
  ...(['udp_dst', 'nxm_of_udp_dst'] as const).map((n): [string, SubfieldSpec] => [n, { nxm: 'NXM_OF_UDP_DST', width: 16, writable: false, match: 'tp_dst', prereq: { dlType: ETH_TYPE_IP, nwProto: 17, what: 'a UDP match ("udp")' } }]),
]);

/** The spec of a subfield name (any case), or undefined. */
export function subfieldSpec(name: string): SubfieldSpec | undefined {
  return SPECS.get(name.toLowerCase());
}

/** Canonical spec by its printed name (`NXM_NX_REG6`). */
export function subfieldSpecByNxm(nxm: string): SubfieldSpec {
  for (const s of SPECS.values()) if (s.nxm === nxm) return s;
  throw new Error(`no subfield ${nxm}`);
}

/** `FIELD[a..b]` after parsing: canonical field name, lowest bit and width. */
export interface SubfieldRef {
  /** Canonical name (`SubfieldSpec.nxm`). */
  field: string;
  ofs: number;
  nBits: number;
}

export type SubfieldParse = { ok: true; ref: SubfieldRef; spec: SubfieldSpec } | { ok: false; message: string; offset: number };

/**
 * `NAME`, `NAME[]`, `NAME[b]` or `NAME[a..b]` (lib/meta-flow.c `mf_parse_subfield__`), with
 * OVS's messages for bad ranges. Offsets in errors are relative to `text`.
 */
export function parseSubfield(text: string): SubfieldParse {
  const lead = text.length - text.trimStart().length;
  const m = /^([A-Za-z0-9_]+)\s*(?:\[\s*(?:(\d+)(?:\s*\.\.\s*(\d+))?)?\s*\])?\s*$/.exec(text.trim());
  if (!m) return { ok: false, message: `"${text.trim()}" is not a field or FIELD[a..b]`, offset: lead };
  const spec = subfieldSpec(m[1]!);
  if (!spec) return { ok: false, message: `unknown field "${m[1]}" (ctoffload knows registers reg0-reg15/NXM_NX_REGn, xreg0-xreg7, metadata, in_port, ct_zone, ct_mark, eth/ip/tcp/udp src and dst)`, offset: lead };
  let ofs = 0;
  let nBits = spec.width;
  if (m[2] !== undefined) {
    const lo = Number(m[2]);
    const hi = m[3] !== undefined ? Number(m[3]) : lo;
    if (lo >= spec.width) return { ok: false, message: `${spec.nxm}[${m[2]}${m[3] !== undefined ? '..' + m[3] : ''}]: starting bit ${lo} is not valid because field is only ${spec.width} bits wide`, offset: lead };
    if (hi < lo) return { ok: false, message: `${spec.nxm}[${lo}..${hi}]: starting bit ${lo} is after ending bit ${hi}`, offset: lead };
    if (hi >= spec.width) return { ok: false, message: `${spec.nxm}[${lo}..${hi}]: ending bit ${hi} is not valid because field is only ${spec.width} bits wide`, offset: lead };
    ofs = lo;
    nBits = hi - lo + 1;
  }
  return { ok: true, ref: { field: spec.nxm, ofs, nBits }, spec };
}

/** `NXM_NX_REG6[0..15]` / `NXM_NX_REG6[]` as ovs-ofctl prints it (`mf_format_subfield`). */
export function formatSubfield(r: SubfieldRef): string {
  const spec = subfieldSpecByNxm(r.field);
  if (r.ofs === 0 && r.nBits === spec.width) return `${r.field}[]`;
  if (r.nBits === 1) return `${r.field}[${r.ofs}]`;
  return `${r.field}[${r.ofs}..${r.ofs + r.nBits - 1}]`;
}

/**
 * Where bit `b` (0 = least significant) of a writable subfield lives in the executor's
 * pipeline words: index (0…17) and bit within it.
 */
export function pipeBit(spec: SubfieldSpec, b: number): [number, number] {
  if (spec.xreg !== undefined) return b < 32 ? [spec.xreg * 2 + 1, b] : [spec.xreg * 2, b - 32];
  if (spec.match === 'metadata') return b < 32 ? [PIPE_METADATA_LO, b] : [PIPE_METADATA_HI, b - 32];
  const reg = /^reg(\d+)$/.exec(spec.match ?? '');
  if (!reg) throw new Error(`${spec.nxm} is not writable`);
  return [Number(reg[1]), b];
}

/** Whether a match field is pipeline state (registers, metadata) rather than a packet/ct field. */
export function isPipeField(name: MatchFieldName): boolean {
  return name === 'metadata' || /^reg\d+$/.test(name);
}
