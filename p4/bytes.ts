/**
 * Canonical P4Runtime bytestrings (spec §8.3; docs/p4-target-interfaces.md §4.3). The only place
 * in ctoffload that turns values into match, param and packet-metadata bytes
 * (docs/style.md §2, after p4runtime-shell's bytes_utils.py).
 *
 * A `bit<W>` value travels as a big-endian string; the canonical form is the shortest one
 * (`ceil(A/8)` bytes for A significant bits, and 0 as the single byte 0x00). Servers reply in
 * canonical form (§8.2 read-write symmetry), so we always send canonical strings, and we reject
 * values wider than W ourselves — PI would left-pad an empty string to 0 and report a too-wide
 * value only per update, as INVALID_ARGUMENT.
 */
import { P4ValueError } from './errors.js';

/**
 * What a caller may give for a `bit<W>` value: a non-negative integer (number or bigint), a
 * string (decimal `42`, hex `0x2a`, binary `0b101010`, IPv4 `10.0.0.1`, IPv6 `fe80::1`
 * (also `::ffff:10.0.0.1`), MAC `00:11:22:33:44:55` or `00-11-…`), or raw big-endian bytes.
 */
export type P4Value = number | bigint | string | Uint8Array;

const MAC_RE = /^[0-9a-f]{2}([:-])[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i;
const IPV4_RE = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;

function fail(message: string, where: string): never {
  throw new P4ValueError(message, where);
}

/** Dotted-quad IPv4 → 32-bit integer; null if `s` is not IPv4 syntax. Throws on a bad octet. */
export function parseIPv4(s: string, where = ''): bigint | null {
  const m = IPV4_RE.exec(s);
  if (!m) return null;
  let v = 0n;
  for (let i = 1; i <= 4; i++) {
    const o = Number(m[i]);
    if (o > 255 || (m[i]!.length > 1 && m[i]![0] === '0')) fail(`bad IPv4 address '${s}'`, where);
    v = (v << 8n) | BigInt(o);
  }
  return v;
}

/** 48-bit MAC (`aa:bb:cc:dd:ee:ff` or with '-') → integer; null if not MAC syntax. */
export function parseMac(s: string): bigint | null {
  if (!MAC_RE.test(s)) return null;
  return BigInt('0x' + s.replace(/[:-]/g, ''));
}

/** IPv6 text (RFC 4291 §2.2, incl. `::` and a trailing dotted quad) → 128-bit integer; null if no ':' . */
export function parseIPv6(s: string, where = ''): bigint | null {
  if (!s.includes(':')) return null;
  const bad = (): never => fail(`bad IPv6 address '${s}'`, where);
  let text = s;
  const lastColon = text.lastIndexOf(':');
  const last = text.slice(lastColon + 1);
  if (last.includes('.')) {
    // Trailing dotted quad (`::ffff:10.0.0.1`): rewrite it as two hex groups.
    const v4 = parseIPv4(last, where);
    if (v4 === null) bad();
    text = `${text.slice(0, lastColon + 1)}${(v4! >> 16n).toString(16)}:${(v4! & 0xffffn).toString(16)}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) bad();
  const groups = (part: string): bigint[] =>
    part === '' ? [] : part.split(':').map((g) => (/^[0-9a-f]{1,4}$/i.test(g) ? BigInt('0x' + g) : bad()));
  const head = groups(halves[0]!);
  const rest = halves.length === 2 ? groups(halves[1]!) : [];
  const total = head.length + rest.length;
  let all: bigint[];
  if (halves.length === 2) {
    if (total > 7) bad();
    all = [...head, ...new Array<bigint>(8 - total).fill(0n), ...rest];
  } else {
    if (total !== 8) bad();
    all = head;
  }
  return all.reduce((acc, g) => (acc << 16n) | g, 0n);
}

/** Big-endian bytes → integer (any length; empty → 0). */
export function bytesToBigInt(bytes: Uint8Array): bigint {
  let v = 0n;
  for (const b of bytes) v = (v << 8n) | BigInt(b);
  return v;
}

/** Non-negative integer → canonical big-endian bytes (0 → one 0x00 byte). */
export function bigIntToCanonical(v: bigint): Uint8Array {
  if (v < 0n) throw new RangeError(`negative value ${v}`);
  if (v === 0n) return Uint8Array.of(0);
  let hex = v.toString(16);
  if (hex.length & 1) hex = '0' + hex;
  return Uint8Array.from(Buffer.from(hex, 'hex'));
}

/** Integer → big-endian bytes padded to `ceil(bitwidth/8)` bytes (full width, not canonical). */
export function bigIntToWidth(v: bigint, bitwidth: number): Uint8Array {
  const n = Math.max(1, Math.ceil(bitwidth / 8));
  const out = new Uint8Array(n);
  for (let i = n - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** Parse any P4Value to a non-negative bigint (no width check). */
export function toBigInt(value: P4Value, where = ''): bigint {
  if (typeof value === 'bigint') {
    if (value < 0n) fail(`negative value ${value} (P4Runtime bitstrings are unsigned, spec §8.3)`, where);
    return value;
  }
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value) || value < 0) {
      fail(`${value} is not a non-negative safe integer; pass a bigint or a string for large values`, where);
    }
    return BigInt(value);
  }
  if (value instanceof Uint8Array) {
    // Spec §8.3: an empty string is never a valid bytestring (PI would take it as 0).
    if (value.length === 0) fail('empty bytestring', where);
    return bytesToBigInt(value);
  }
  if (typeof value !== 'string') fail(`unsupported value type ${typeof value}`, where);
  const s = value.trim();
  if (s === '') fail('empty string', where);
  if (/^\d+$/.test(s)) return BigInt(s);
  if (/^0x[0-9a-f]+$/i.test(s)) return BigInt(s);
  if (/^0b[01]+$/i.test(s)) return BigInt(s);
  const mac = parseMac(s);
  if (mac !== null) return mac;
  const v4 = parseIPv4(s, where);
  if (v4 !== null) return v4;
  const v6 = parseIPv6(s, where);
  if (v6 !== null) return v6;
  return fail(`cannot read '${value}' as a number, hex (0x…), binary (0b…), IPv4, IPv6 or MAC address`, where);
}

function checkWidth(bitwidth: number, where: string): void {
  if (!Number.isInteger(bitwidth) || bitwidth <= 0) fail(`invalid bitwidth ${bitwidth}`, where);
}

/** Throws CTO_P4_VALUE if `v` needs more than `bitwidth` bits. */
export function checkFits(v: bigint, bitwidth: number, where = '', shown: P4Value = v): void {
  checkWidth(bitwidth, where);
  if (v >> BigInt(bitwidth) !== 0n) {
    fail(`value ${formatShown(shown)} does not fit in bit<${bitwidth}> (max 0x${((1n << BigInt(bitwidth)) - 1n).toString(16)})`, where);
  }
}

function formatShown(v: P4Value): string {
  if (v instanceof Uint8Array) return `0x${Buffer.from(v).toString('hex')} (${v.length} bytes)`;
  if (typeof v === 'string') return `'${v}'`;
  return typeof v === 'bigint' ? `${v} (0x${v.toString(16)})` : String(v);
}

/**
 * Encode `value` as the canonical bytestring of a `bit<bitwidth>` field. `where` names the
 * field for errors (`table 'ct_table', field 'hdr.ipv4.src'`).
 */
export function encodeValue(value: P4Value, bitwidth: number, where = ''): Uint8Array {
  const v = toBigInt(value, where);
  checkFits(v, bitwidth, where, value);
  return bigIntToCanonical(v);
}

/**
 * Decode a bytestring received for a `bit<bitwidth>` field: leading zero bytes are accepted
 * (spec §8.3: receivers must take longer strings whose extra bits are zero), the value must fit.
 */
export function decodeValue(bytes: Uint8Array, bitwidth?: number, where = ''): bigint {
  if (bytes.length === 0) fail('empty bytestring', where);
  const v = bytesToBigInt(bytes);
  if (bitwidth !== undefined) checkFits(v, bitwidth, where, bytes);
  return v;
}

/** True if `bytes` is the canonical form of its value (no leading zero byte unless it is `\x00`). */
export function isCanonical(bytes: Uint8Array): boolean {
  return bytes.length === 1 || (bytes.length > 1 && bytes[0] !== 0);
}

/** Mask of the `prefixLen` most significant bits of a `bit<bitwidth>` field. */
export function prefixMask(prefixLen: number, bitwidth: number): bigint {
  const w = BigInt(bitwidth);
  const p = BigInt(prefixLen);
  return ((1n << p) - 1n) << (w - p);
}

/** All-ones value of a `bit<bitwidth>` field. */
export function fullMask(bitwidth: number): bigint {
  return (1n << BigInt(bitwidth)) - 1n;
}

/** Text forms for display: MAC for 48-bit, dotted quad for 32-bit, else hex. */
export function formatValue(v: bigint | Uint8Array, bitwidth: number): string {
  const n = v instanceof Uint8Array ? bytesToBigInt(v) : v;
  if (bitwidth === 48) return Buffer.from(bigIntToWidth(n, 48)).toString('hex').replace(/(..)(?!$)/g, '$1:');
  if (bitwidth === 32) return Array.from(bigIntToWidth(n, 32)).join('.');
  return '0x' + n.toString(16);
}
