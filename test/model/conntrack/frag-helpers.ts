/**
 * Test helpers for model/conntrack/ipf.ts: a fragmenter over finished frames (RFC 791 / RFC
 * 8200 4.5 shapes) and a driver that runs frames through `conntrackExecute` the way the
 * pipeline will (one packet per batch).
 */
import { formatCtState } from '../../../model/ctstate.js';
import { finishChecksum, sum16 } from '../../../model/packet/checksum.js';
import { L3_IPV4, L3_IPV6, PacketView } from '../../../model/packet/view.js';
import { Conntrack, CtArgs, CtMeta, IpfBatch, conntrackExecute, type ConntrackOptions } from '../../../model/conntrack/index.js';

/**
 * Split the IP payload of `frame` (no IPv6 extension headers) at `cuts` (data offsets,
 * multiples of 8, increasing, inside the payload). IPv4 fragments copy the header (options
 * included) with new length/flags/checksum; IPv6 fragments get a fragment header with `id`.
 */
export function fragmentFrame(frame: Uint8Array, cuts: readonly number[], id?: number): Uint8Array[] {
  const v = new PacketView().parse(frame);
  const l3 = v.l3Off;
  const eth = frame.subarray(0, l3);
  const out: Uint8Array[] = [];
  if (v.l3 === L3_IPV4) {
    const ihl = (frame[l3]! & 15) * 4;
    const data = frame.subarray(l3 + ihl, v.l3End);
    const bounds = [0, ...cuts, data.length];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const s = bounds[i]!;
      const e = bounds[i + 1]!;
      const f = new Uint8Array(l3 + ihl + (e - s));
      f.set(eth, 0);
      f.set(frame.subarray(l3, l3 + ihl), l3);
      f.set(data.subarray(s, e), l3 + ihl);
      const tot = ihl + (e - s);
      f[l3 + 2] = tot >> 8;
      f[l3 + 3] = tot & 255;
      if (id !== undefined) {
        f[l3 + 4] = id >> 8;
        f[l3 + 5] = id & 255;
      }
      const fo = (frame[l3 + 6]! & 0x40) << 8 | (e < data.length ? 0x2000 : 0) | (s / 8);
      f[l3 + 6] = fo >> 8;
      f[l3 + 7] = fo & 255;
      f[l3 + 10] = f[l3 + 11] = 0;
      const cs = finishChecksum(sum16(f, l3, ihl));
      f[l3 + 10] = cs >> 8;
      f[l3 + 11] = cs & 255;
      out.push(f);
    }
  } else if (v.l3 === L3_IPV6) {
    const data = frame.subarray(l3 + 40, v.l3End);
    const nxt = frame[l3 + 6]!;
    const bounds = [0, ...cuts, data.length];
    for (let i = 0; i + 1 < bounds.length; i++) {
      const s = bounds[i]!;
      const e = bounds[i + 1]!;
      const f = new Uint8Array(l3 + 48 + (e - s));
      f.set(eth, 0);
      f.set(frame.subarray(l3, l3 + 40), l3);
      const pl = 8 + (e - s);
      f[l3 + 4] = pl >> 8;
      f[l3 + 5] = pl & 255;
      f[l3 + 6] = 44;
      const h = l3 + 40;
      f[h] = nxt;
      const offlg = s | (e < data.length ? 1 : 0);
      f[h + 2] = offlg >> 8;
      f[h + 3] = offlg & 255;
      const ident = id ?? 0x01020304;
      f[h + 4] = ident >>> 24;
      f[h + 5] = (ident >>> 16) & 255;
      f[h + 6] = (ident >>> 8) & 255;
      f[h + 7] = ident & 255;
      f.set(data.subarray(s, e), h + 8);
      out.push(f);
    }
  } else {
    throw new Error('fragmentFrame: not an IP frame');
  }
  return out;
}

export interface SendOpts {
  zone?: number;
  commit?: boolean;
  recirc?: number;
  tag?: number;
  /** Start from this md (a released fragment's) instead of a cleared one. */
  md?: CtMeta;
}

export interface Released {
  tag: number;
  state: string;
  frame: Uint8Array;
  md: CtMeta;
}

export interface SendResult {
  /** ct_state of the packet itself when it continues, else null (held). */
  state: string | null;
  released: Released[];
  datagram: Uint8Array | null;
}

export class FragDriver {
  readonly ct: Conntrack;
  readonly view = new PacketView();
  readonly args = new CtArgs();
  readonly md = new CtMeta();
  readonly batch = new IpfBatch();
  now = 0;

  constructor(opts: ConntrackOptions = {}) {
    this.ct = new Conntrack(opts);
  }

  send(frame: Uint8Array, o: SendOpts = {}): SendResult {
    this.md.clear();
    if (o.md) {
      const m = o.md;
      Object.assign(this.md, { state: m.state, zone: m.zone, mark: m.mark, origL3: m.origL3, origProto: m.origProto, origSport: m.origSport, origDport: m.origDport });
      this.md.label.set(m.label);
      this.md.origSrc.set(m.origSrc);
      this.md.origDst.set(m.origDst);
    }
    this.view.parse(frame);
    this.args.zone = o.zone ?? 0;
    this.args.commit = o.commit ?? false;
    conntrackExecute(this.ct, this.view, this.args, this.now, this.md, o.recirc ?? 0, this.batch, o.tag ?? 0);
    const b = this.batch;
    return {
      state: b.self ? formatCtState(this.md.state) : null,
      released: b.frags.map((f) => ({ tag: f.tag, state: formatCtState(f.md.state), frame: f.frame, md: f.md })),
      datagram: b.datagram,
    };
  }

  /** Send fragments in the given order with tags = their index in `frags`; returns the last result. */
  sendAll(frags: readonly Uint8Array[], order: readonly number[], o: SendOpts = {}): SendResult[] {
    return order.map((i) => this.send(frags[i]!, { ...o, tag: i }));
  }
}
