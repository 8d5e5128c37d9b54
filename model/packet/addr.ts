/**
 * Text forms of MAC, IPv4 and IPv6 addresses (RFC 5952 for IPv6 output). Used by the codec and
 * by traces; not on the per-packet hot path.
 */
import { PacketBuildError } from '../errors.js';

export function parseMac(s: string, field = 'mac'): Uint8Array {
  const parts = s.split(/[:-]/);
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) {
    throw new PacketBuildError(`${field}: bad MAC address '${s}'`);
  }
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

export function formatMac(b: Uint8Array, off = 0): string {
  const out: string[] = [];
  for (let i = 0; i < 6; i++) out.push(b[off + i]!.toString(16).padStart(2, '0'));
  return out.join(':');
}

export function isIpv6Text(s: string): boolean {
  return s.includes(':');
}

export function parseIpv4(s: string, field = 'ip'): Uint8Array {
  const parts = s.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new PacketBuildError(`${field}: bad IPv4 address '${s}'`);
  }
  return Uint8Array.from(parts.map(Number));
}

export function formatIpv4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 4291 2.2 text forms: full, `::` compressed, and a trailing dotted IPv4. */
export function parseIpv6(s: string, field = 'ip'): Uint8Array {
  const bad = (): never => {
    throw new PacketBuildError(`${field}: bad IPv6 address '${s}'`);
  };
  let text = s;
  const lastColon = text.lastIndexOf(':');
  if (text.slice(lastColon + 1).includes('.')) {
    // Trailing dotted quad (::ffff:1.2.3.4): rewrite as two hex groups and parse as usual.
    const v4 = parseIpv4(text.slice(lastColon + 1), field);
    const hi = ((v4[0]! << 8) | v4[1]!).toString(16);
    const lo = ((v4[2]! << 8) | v4[3]!).toString(16);
    text = `${text.slice(0, lastColon + 1)}${hi}:${lo}`;
  }
  const halves = text.split('::');
  if (halves.length > 2) bad();
  const group = (h: string): number[] =>
    h === '' ? [] : h.split(':').map((g) => (/^[0-9a-fA-F]{1,4}$/.test(g) ? parseInt(g, 16) : bad()));
  const head = group(halves[0]!);
  const rest = halves.length === 2 ? group(halves[1]!) : [];
  const words = [...head];
  const have = head.length + rest.length;
  if (halves.length === 2) {
    if (have > 7) bad();
    for (let i = have; i < 8; i++) words.push(0);
  } else if (have !== 8) bad();
  words.push(...rest);
  const out = new Uint8Array(16);
  words.forEach((w, i) => {
    out[2 * i] = w >> 8;
    out[2 * i + 1] = w & 0xff;
  });
  return out;
}

/** RFC 5952: lower case, longest run (≥ 2) of zero groups as `::`, first run on a tie. */
export function formatIpv6(b: Uint8Array, off = 0): string {
  const w: number[] = [];
  for (let i = 0; i < 8; i++) w.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  let bestStart = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (w[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && w[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(':');
  if (bestStart < 0) return hex(w);
  return `${hex(w.slice(0, bestStart))}::${hex(w.slice(bestStart + bestLen))}`;
}

/** Parses IPv4 or IPv6 text (chosen by the presence of ':'). */
export function parseIp(s: string, field = 'ip'): Uint8Array {
  return isIpv6Text(s) ? parseIpv6(s, field) : parseIpv4(s, field);
}

export function formatIp(b: Uint8Array): string {
  return b.length === 16 ? formatIpv6(b) : formatIpv4(b);
}
