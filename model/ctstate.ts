/**
 * ct_state: the one type for conntrack state bits, with OVS's values and both text forms.
 *
 * Bit values: openvswitch/ovs lib/packets.h `CS_STATES`. Display form `est|rpl|trk`
 * (lib/flow.c `format_flags`, lowest bit first, `0` for none); match form `+est+trk` /
 * `-new` (lib/flow.c `format_flags_masked`, `parse_flags`) and numeric `0x22/0x22`.
 */
import { CtoffloadError } from './errors.js';

export const CS_NEW = 0x01;
export const CS_ESTABLISHED = 0x02;
export const CS_RELATED = 0x04;
export const CS_REPLY_DIR = 0x08;
export const CS_INVALID = 0x10;
export const CS_TRACKED = 0x20;
export const CS_SRC_NAT = 0x40;
export const CS_DST_NAT = 0x80;

/** Short names in bit order, as OVS prints them. */
export const CT_STATE_NAMES = ['new', 'est', 'rel', 'rpl', 'inv', 'trk', 'snat', 'dnat'] as const;
export type CtStateName = (typeof CT_STATE_NAMES)[number];

/** A ct_state value is a plain number (hot path); these helpers give it its text forms. */
export type CtState = number;

/** `est|rpl|trk`; `0` for an untracked packet. */
export function formatCtState(state: CtState): string {
  if (state === 0) return '0';
  const parts: string[] = [];
  for (let i = 0; i < 8; i++) if (state & (1 << i)) parts.push(CT_STATE_NAMES[i]!);
  const rest = state & ~0xff;
  if (rest) parts.push(`0x${rest.toString(16)}`);
  return parts.join('|');
}

/** A masked ct_state match: the packet matches when `(state & mask) === value`. */
export interface CtStateMatch {
  value: number;
  mask: number;
}

/** `+est+trk-new`, in bit order, as OVS prints a masked match. */
export function formatCtStateMatch(m: CtStateMatch): string {
  if (m.mask === 0xffffffff || m.mask === -1) return formatCtState(m.value >>> 0);
  let out = '';
  for (let i = 0; i < 8; i++) {
    const bit = 1 << i;
    if (m.mask & bit) out += (m.value & bit ? '+' : '-') + CT_STATE_NAMES[i];
  }
  return out;
}

export class CtStateParseError extends CtoffloadError {
  constructor(
    message: string,
    readonly text: string,
    readonly offset: number,
  ) {
    super('CTO_CT_STATE_PARSE', message);
  }
}

function nameToBit(name: string, text: string, offset: number): number {
  const i = (CT_STATE_NAMES as readonly string[]).indexOf(name);
  if (i < 0) {
    throw new CtStateParseError(
      `unknown ct_state flag "${name}" (expected one of ${CT_STATE_NAMES.join(', ')})`,
      text,
      offset,
    );
  }
  return 1 << i;
}

/**
 * Parse any form OVS accepts for a ct_state match:
 * `+trk+est-new` (masked), `est|trk` or `0x22` (exact: all 32 mask bits), `0x22/0x22`.
 * `offset` in errors is relative to `text`.
 */
export function parseCtStateMatch(text: string): CtStateMatch {
  const t = text.trim();
  if (t.length === 0) throw new CtStateParseError('empty ct_state', text, 0);
  if (t[0] === '+' || t[0] === '-') {
    let value = 0;
    let mask = 0;
    let i = 0;
    while (i < t.length) {
      const sign = t[i];
      if (sign !== '+' && sign !== '-') {
        throw new CtStateParseError(`expected "+" or "-" before a ct_state flag`, text, i);
      }
      let j = i + 1;
      while (j < t.length && t[j] !== '+' && t[j] !== '-') j++;
      const name = t.slice(i + 1, j);
      if (name.length === 0) throw new CtStateParseError('missing ct_state flag name', text, i + 1);
      const bit = nameToBit(name, text, i + 1);
      if (mask & bit) throw new CtStateParseError(`ct_state flag "${name}" given twice`, text, i + 1);
      mask |= bit;
      if (sign === '+') value |= bit;
      i = j;
    }
    return { value, mask };
  }
  const slash = t.indexOf('/');
  if (slash >= 0) {
    const value = parseNumberOrFlags(t.slice(0, slash), text, 0);
    const mask = parseNumberOrFlags(t.slice(slash + 1), text, slash + 1);
    return { value: (value & mask) >>> 0, mask: mask >>> 0 };
  }
  return { value: parseNumberOrFlags(t, text, 0), mask: 0xffffffff };
}

function parseNumberOrFlags(part: string, text: string, offset: number): number {
  if (/^(0x[0-9a-f]+|\d+)$/i.test(part)) {
    const n = Number(part);
    if (n > 0xffffffff) throw new CtStateParseError(`ct_state value ${part} exceeds 32 bits`, text, offset);
    return n >>> 0;
  }
  let v = 0;
  let pos = offset;
  for (const name of part.split('|')) {
    if (name === '') throw new CtStateParseError('empty ct_state flag name', text, pos);
    v |= nameToBit(name, text, pos);
    pos += name.length + 1;
  }
  return v >>> 0;
}

/** Parse the display form `est|rpl|trk` (or `0`) back to a value. */
export function parseCtState(text: string): CtState {
  const t = text.trim();
  if (t === '0' || t === '') return 0;
  return parseNumberOrFlags(t, text, 0);
}

export function ctStateMatches(state: CtState, m: CtStateMatch): boolean {
  return ((state & m.mask) >>> 0) === (m.value >>> 0);
}
