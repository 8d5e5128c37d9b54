/**
 * Field descriptors of the codec: each header is declared once as a list of fields, and every
 * field type knows how to write itself (`write`, scapy's `addfield`) and read itself back
 * (`read`, scapy's `getfield`), as in secdev/scapy scapy/fields.py. The encoder and the decoder
 * in ./codec.ts walk the same list, so they cannot disagree about a header's layout.
 */
import { PacketBuildError } from '../errors.js';
import { formatIpv4, formatIpv6, formatMac, parseIpv4, parseIpv6, parseMac } from './addr.js';

/** Thrown by a reader when the bytes cannot hold the field; the decoder turns it into raw data. */
export class DecodeStop extends Error {}

export class BitReader {
  bitPos: number;
  constructor(
    readonly buf: Uint8Array,
    readonly start: number,
    readonly end: number,
  ) {
    this.bitPos = start * 8;
  }
  get pos(): number {
    return this.bitPos >>> 3;
  }
  uint(bits: number, what: string): number {
    if (this.bitPos + bits > this.end * 8) throw new DecodeStop(`${what} truncated`);
    if ((this.bitPos & 7) === 0 && (bits & 7) === 0) {
      // Whole bytes: the common case, read without the bit loop.
      let v = 0;
      for (let p = this.bitPos >>> 3, e = p + (bits >>> 3); p < e; p++) v = v * 256 + this.buf[p]!;
      this.bitPos += bits;
      return v;
    }
    let v = 0;
    for (let i = 0; i < bits; ) {
      const byte = this.buf[this.bitPos >>> 3]!;
      const bitOff = this.bitPos & 7;
      const take = Math.min(8 - bitOff, bits - i);
      const part = (byte >>> (8 - bitOff - take)) & ((1 << take) - 1);
      v = v * (1 << take) + part; // not `<<`: 32-bit fields must stay unsigned
      i += take;
      this.bitPos += take;
    }
    return v;
  }
  bytes(n: number, what: string): Uint8Array {
    if (this.bitPos & 7) throw new Error(`unaligned byte field ${what}`);
    if (n < 0 || this.pos + n > this.end) throw new DecodeStop(`${what} truncated`);
    const out = this.buf.slice(this.pos, this.pos + n);
    this.bitPos += n * 8;
    return out;
  }
}

export class BitWriter {
  private out: number[] = [];
  private acc = 0;
  private accBits = 0;
  uint(v: number, bits: number): void {
    if (this.accBits === 0 && (bits & 7) === 0) {
      for (let s = bits - 8; s >= 0; s -= 8) this.out.push(Math.floor(v / 2 ** s) & 0xff);
      return;
    }
    for (let i = bits - 1; i >= 0; i--) {
      this.acc = (this.acc << 1) | (Math.floor(v / 2 ** i) & 1);
      if (++this.accBits === 8) {
        this.out.push(this.acc);
        this.acc = 0;
        this.accBits = 0;
      }
    }
  }
  bytes(b: ArrayLike<number>): void {
    if (this.accBits) throw new PacketBuildError('a byte field starts inside a byte');
    for (let i = 0; i < b.length; i++) this.out.push(b[i]!);
  }
  get length(): number {
    return this.out.length;
  }
  finish(): Uint8Array {
    if (this.accBits) throw new PacketBuildError('header does not end on a byte boundary');
    return Uint8Array.from(this.out);
  }
}

export type AnyLayer = Record<string, unknown> & { kind: string };

/**
 * One field of a header. `auto` fields (lengths, checksums, next-protocol selectors) may be left
 * undefined when encoding; the layer's hooks fill them (scapy's `post_build`).
 */
export interface Field {
  name: string;
  auto?: boolean;
  /** A conditional field (scapy's ConditionalField): present only when this holds. */
  when?: (l: AnyLayer) => boolean;
  read(r: BitReader, l: AnyLayer): unknown;
  write(w: BitWriter, v: unknown, l: AnyLayer, where: string): void;
  /** Value used when the layer leaves a non-auto field undefined. */
  dflt(): unknown;
}

function checkUint(v: unknown, bits: number, max: number, where: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > max) {
    throw new PacketBuildError(`${where}: ${String(v)} is not an unsigned ${bits}-bit integer`);
  }
  return v;
}

/** Unsigned big-endian bit field of 1..32 bits (BitField / ShortField / IntField). */
export function uint(name: string, bits: number, opts: { auto?: boolean; dflt?: number; when?: (l: AnyLayer) => boolean } = {}): Field {
  const d = opts.dflt ?? 0;
  const max = 2 ** bits - 1;
  return {
    name,
    auto: opts.auto,
    when: opts.when,
    read: (r) => r.uint(bits, name),
    write: (w, v, _l, where) => w.uint(checkUint(v, bits, max, where), bits),
    dflt: () => d,
  };
}

/** One-bit flag as a boolean (FlagsField bit). */
export function flag(name: string): Field {
  return {
    name,
    read: (r) => r.uint(1, name) === 1,
    write: (w, v, _l, where) => {
      if (typeof v !== 'boolean') throw new PacketBuildError(`${where}: ${String(v)} is not a boolean`);
      w.uint(v ? 1 : 0, 1);
    },
    dflt: () => false,
  };
}

function textField(name: string, size: number, parse: (s: string, f: string) => Uint8Array, format: (b: Uint8Array) => string, d: string): Field {
  // Encoding parses the same few addresses over and over (each header is written up to three
  // times for lengths and checksums): keep the parsed bytes of recent texts (read-only here).
  const cache = new Map<string, Uint8Array>();
  return {
    name,
    read: (r) => format(r.bytes(size, name)),
    write: (w, v, _l, where) => {
      if (typeof v !== 'string') throw new PacketBuildError(`${where}: ${String(v)} is not an address string`);
      let b = cache.get(v);
      if (!b) {
        b = parse(v, where);
        if (cache.size >= 1024) cache.clear();
        cache.set(v, b);
      }
      w.bytes(b);
    },
    dflt: () => d,
  };
}
export const mac = (name: string): Field => textField(name, 6, parseMac, (b) => formatMac(b), '00:00:00:00:00:00');
export const ip4 = (name: string): Field => textField(name, 4, parseIpv4, (b) => formatIpv4(b), '0.0.0.0');
export const ip6 = (name: string): Field => textField(name, 16, parseIpv6, (b) => formatIpv6(b), '::');

/**
 * Byte string whose length on the wire comes from earlier fields (StrLenField). `lenOf` returns
 * the length to read; writing takes whatever length the value has (the hooks keep the length
 * field consistent unless it was set explicitly).
 */
export function bytes(name: string, lenOf: (l: AnyLayer) => number, dflt: () => Uint8Array = () => new Uint8Array(0)): Field {
  return {
    name,
    read: (r, l) => r.bytes(lenOf(l), name),
    write: (w, v, _l, where) => {
      if (!(v instanceof Uint8Array)) throw new PacketBuildError(`${where}: not a Uint8Array`);
      w.bytes(v);
    },
    dflt,
  };
}

/** A field with its own reader and writer (e.g. the TCP option list). */
export function custom<T>(
  name: string,
  read: (r: BitReader, l: AnyLayer) => T,
  write: (w: BitWriter, v: T, l: AnyLayer, where: string) => void,
  dflt: () => T,
): Field {
  return { name, read, write: write as Field['write'], dflt };
}
