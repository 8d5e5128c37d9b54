/**
 * Tiny IPv4 frame builder for the target tests (the model's codec is being written elsewhere;
 * these tests only need correct UDP/TCP frames with real checksums).
 */
import { finishChecksum, pseudoSum4, sum16 } from '../../../model/packet/checksum.js';

export interface Ip4Opts {
  src: string;
  dst: string;
  sport: number;
  dport: number;
  srcMac?: string;
  dstMac?: string;
  payload?: Uint8Array;
  ttl?: number;
}

export interface TcpOpts extends Ip4Opts {
  flags: number;
  seq: number;
  ack: number;
  win?: number;
}

export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;

function ip(a: string): number[] {
  return a.split('.').map(Number);
}
function mac(m: string): number[] {
  return m.split(':').map((h) => parseInt(h, 16));
}

function ip4Frame(o: Ip4Opts, proto: number, l4: Uint8Array): Uint8Array {
  const f = new Uint8Array(14 + 20 + l4.length);
  f.set(mac(o.dstMac ?? '00:00:00:00:00:02'), 0);
  f.set(mac(o.srcMac ?? '00:00:00:00:00:01'), 6);
  f[12] = 0x08;
  f[13] = 0x00;
  const h = 14;
  f[h] = 0x45;
  const tot = 20 + l4.length;
  f[h + 2] = tot >> 8;
  f[h + 3] = tot & 0xff;
  f[h + 8] = o.ttl ?? 64;
  f[h + 9] = proto;
  f.set(ip(o.src), h + 12);
  f.set(ip(o.dst), h + 16);
  const c = finishChecksum(sum16(f, h, 20));
  f[h + 10] = c >> 8;
  f[h + 11] = c & 0xff;
  f.set(l4, h + 20);
  return f;
}

export function udp4(o: Ip4Opts): Uint8Array {
  const payload = o.payload ?? new Uint8Array(0);
  const l4 = new Uint8Array(8 + payload.length);
  l4[0] = o.sport >> 8;
  l4[1] = o.sport & 0xff;
  l4[2] = o.dport >> 8;
  l4[3] = o.dport & 0xff;
  l4[4] = l4.length >> 8;
  l4[5] = l4.length & 0xff;
  l4.set(payload, 8);
  const f = ip4Frame(o, 17, l4);
  let c = finishChecksum(sum16(f, 34, l4.length, pseudoSum4(f, 14, 17, l4.length)));
  if (c === 0) c = 0xffff;
  f[34 + 6] = c >> 8;
  f[34 + 7] = c & 0xff;
  return f;
}

export function tcp4(o: TcpOpts): Uint8Array {
  const payload = o.payload ?? new Uint8Array(0);
  const l4 = new Uint8Array(20 + payload.length);
  const dv = new DataView(l4.buffer);
  dv.setUint16(0, o.sport);
  dv.setUint16(2, o.dport);
  dv.setUint32(4, o.seq >>> 0);
  dv.setUint32(8, o.ack >>> 0);
  l4[12] = 5 << 4;
  l4[13] = o.flags;
  dv.setUint16(14, o.win ?? 65535);
  l4.set(payload, 20);
  const f = ip4Frame(o, 6, l4);
  const c = finishChecksum(sum16(f, 34, l4.length, pseudoSum4(f, 14, 6, l4.length)));
  f[34 + 16] = c >> 8;
  f[34 + 17] = c & 0xff;
  return f;
}
