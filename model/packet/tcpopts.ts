/**
 * TCP options (RFC 9293 3.1, RFC 7323 timestamps/window scale, RFC 2018 SACK) as a list that
 * reads and writes losslessly: a malformed tail is kept as `raw`, an option of a known kind
 * with an unexpected length is kept as `unknown`, so encode(decode(bytes)) gives the bytes back.
 */
import { PacketBuildError } from '../errors.js';
import type { BitReader, BitWriter } from './fields.js';

export type TcpOption =
  | { kind: 'eol' }
  | { kind: 'nop' }
  | { kind: 'mss'; value: number }
  | { kind: 'wscale'; shift: number }
  | { kind: 'sackOk' }
  | { kind: 'sack'; blocks: [number, number][] }
  | { kind: 'timestamp'; tsval: number; tsecr: number }
  | { kind: 'unknown'; type: number; data: Uint8Array }
  | { kind: 'raw'; data: Uint8Array };

export const TCPOPT_EOL = 0;
export const TCPOPT_NOP = 1;
export const TCPOPT_MSS = 2;
export const TCPOPT_WSCALE = 3;
export const TCPOPT_SACK_PERMITTED = 4;
export const TCPOPT_SACK = 5;
export const TCPOPT_TIMESTAMP = 8;

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}
function u32(b: Uint8Array, o: number): number {
  return ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
}

/** Decodes the option bytes `b` (the whole options area). Never throws. */
export function decodeTcpOptions(b: Uint8Array): TcpOption[] {
  const out: TcpOption[] = [];
  let o = 0;
  while (o < b.length) {
    const kind = b[o]!;
    if (kind === TCPOPT_EOL) {
      out.push({ kind: 'eol' });
      o++;
      continue;
    }
    if (kind === TCPOPT_NOP) {
      out.push({ kind: 'nop' });
      o++;
      continue;
    }
    const len = o + 1 < b.length ? b[o + 1]! : 0;
    if (len < 2 || o + len > b.length) {
      out.push({ kind: 'raw', data: b.slice(o) });
      break;
    }
    const d = o + 2;
    if (kind === TCPOPT_MSS && len === 4) out.push({ kind: 'mss', value: u16(b, d) });
    else if (kind === TCPOPT_WSCALE && len === 3) out.push({ kind: 'wscale', shift: b[d]! });
    else if (kind === TCPOPT_SACK_PERMITTED && len === 2) out.push({ kind: 'sackOk' });
    else if (kind === TCPOPT_TIMESTAMP && len === 10) out.push({ kind: 'timestamp', tsval: u32(b, d), tsecr: u32(b, d + 4) });
    else if (kind === TCPOPT_SACK && len >= 10 && (len - 2) % 8 === 0) {
      const blocks: [number, number][] = [];
      for (let p = d; p < o + len; p += 8) blocks.push([u32(b, p), u32(b, p + 4)]);
      out.push({ kind: 'sack', blocks });
    } else out.push({ kind: 'unknown', type: kind, data: b.slice(d, o + len) });
    o += len;
  }
  return out;
}

function u(v: number, bits: number, where: string): number {
  if (!Number.isInteger(v) || v < 0 || v > 2 ** bits - 1) throw new PacketBuildError(`${where}: ${v} is not an unsigned ${bits}-bit integer`);
  return v;
}

/** Encodes a list into bytes (no padding: the TCP layer pads to a 32-bit boundary). */
export function encodeTcpOptionList(opts: TcpOption[], where = 'tcp.options'): number[] {
  const out: number[] = [];
  const put32 = (v: number, w: string): void => {
    u(v, 32, w);
    out.push(v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255);
  };
  opts.forEach((opt, i) => {
    const w = `${where}[${i}]`;
    switch (opt.kind) {
      case 'eol':
        out.push(TCPOPT_EOL);
        break;
      case 'nop':
        out.push(TCPOPT_NOP);
        break;
      case 'mss':
        u(opt.value, 16, `${w}.value`);
        out.push(TCPOPT_MSS, 4, opt.value >> 8, opt.value & 255);
        break;
      case 'wscale':
        out.push(TCPOPT_WSCALE, 3, u(opt.shift, 8, `${w}.shift`));
        break;
      case 'sackOk':
        out.push(TCPOPT_SACK_PERMITTED, 2);
        break;
      case 'sack':
        if (opt.blocks.length < 1 || opt.blocks.length > 4) throw new PacketBuildError(`${w}.blocks: ${opt.blocks.length} blocks (1 to 4 fit)`);
        out.push(TCPOPT_SACK, 2 + 8 * opt.blocks.length);
        opt.blocks.forEach(([l, r], j) => {
          put32(l, `${w}.blocks[${j}][0]`);
          put32(r, `${w}.blocks[${j}][1]`);
        });
        break;
      case 'timestamp':
        out.push(TCPOPT_TIMESTAMP, 10);
        put32(opt.tsval, `${w}.tsval`);
        put32(opt.tsecr, `${w}.tsecr`);
        break;
      case 'unknown':
        u(opt.type, 8, `${w}.type`);
        if (opt.data.length > 253) throw new PacketBuildError(`${w}.data: ${opt.data.length} bytes do not fit a length byte`);
        out.push(opt.type, opt.data.length + 2, ...opt.data);
        break;
      case 'raw':
        out.push(...opt.data);
        break;
      default:
        throw new PacketBuildError(`${w}.kind: unknown option kind '${(opt as { kind: string }).kind}'`);
    }
  });
  return out;
}

export function readTcpOptions(r: BitReader, len: number): TcpOption[] {
  return decodeTcpOptions(r.bytes(len, 'tcp.options'));
}
export function writeTcpOptions(w: BitWriter, opts: TcpOption[], _l: unknown, where: string): void {
  if (!Array.isArray(opts)) throw new PacketBuildError(`${where}: not an option list`);
  w.bytes(encodeTcpOptionList(opts, where));
}
