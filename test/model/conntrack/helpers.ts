/**
 * Test driver for model/conntrack: builds frames with model/packet/build.ts and runs them
 * through one Conntrack with a reusable CtArgs/CtMeta, returning ct_state in OVS's `|` form.
 */
import { formatCtState } from '../../../model/ctstate.js';
import { buildFrame, type FrameSpec } from '../../../model/packet/build.js';
import { PacketView } from '../../../model/packet/view.js';
import {
  ALG_NONE,
  Conntrack,
  CtArgs,
  CtMeta,
  type ConnInfo,
  type ConntrackOptions,
} from '../../../model/conntrack/index.js';

export interface CallOpts {
  zone?: number;
  commit?: boolean;
  force?: boolean;
  alg?: number;
  timeout?: string;
  mark?: [number, number];
  label?: [bigint, bigint];
  /** Keep md from the previous call on this packet (same-zone shortcut tests). */
  keepMd?: boolean;
}

export class Driver {
  readonly ct: Conntrack;
  readonly view = new PacketView();
  readonly args = new CtArgs();
  readonly md = new CtMeta();
  now = 0;

  constructor(opts: ConntrackOptions = {}) {
    this.ct = new Conntrack(opts);
  }

  /** Run one ct() on a frame (spec or bytes) and return the ct_state text. */
  ct_(frame: FrameSpec | Uint8Array, o: CallOpts = {}): string {
    const bytes = frame instanceof Uint8Array ? frame : buildFrame(frame);
    if (!o.keepMd) this.md.clear();
    this.view.parse(bytes);
    const a = this.args;
    a.zone = o.zone ?? 0;
    a.commit = o.commit ?? false;
    a.force = o.force ?? false;
    a.alg = o.alg ?? ALG_NONE;
    a.timeoutPolicy = o.timeout === undefined ? -1 : this.ct.timeoutPolicyId(o.timeout);
    a.setMark = o.mark !== undefined;
    a.markValue = o.mark?.[0] ?? 0;
    a.markMask = o.mark?.[1] ?? 0;
    a.setLabel = o.label !== undefined;
    if (o.label) {
      for (let i = 0; i < 4; i++) {
        const sh = BigInt(96 - 32 * i);
        a.labelValue[i] = Number((o.label[0] >> sh) & 0xffffffffn);
        a.labelMask[i] = Number((o.label[1] >> sh) & 0xffffffffn);
      }
    }
    this.ct.execute(this.view, a, this.now, this.md);
    return formatCtState(this.md.state);
  }

  /** ct(commit) shorthand. */
  commit(frame: FrameSpec | Uint8Array, o: CallOpts = {}): string {
    return this.ct_(frame, { ...o, commit: true });
  }

  conns(): ConnInfo[] {
    return [...this.ct.connections(this.now)];
  }

  only(): ConnInfo {
    const c = this.conns();
    if (c.length !== 1) throw new Error(`expected exactly one connection, got ${c.length}`);
    return c[0]!;
  }
}

export const A = '10.0.0.1';
export const B = '10.0.0.2';
export const A6 = 'fd00::1';
export const B6 = 'fd00::2';

/** TCP frame A→B (or B→A with `rev`). */
export function tcp(
  flags: string,
  seq: number,
  ack: number,
  o: { rev?: boolean; win?: number; wscale?: number; payload?: string | Uint8Array; sport?: number; dport?: number; v6?: boolean } = {},
): FrameSpec {
  const a = o.v6 ? A6 : A;
  const b = o.v6 ? B6 : B;
  const sport = o.sport ?? 40000;
  const dport = o.dport ?? 80;
  const spec: FrameSpec = {
    ip: o.rev ? { src: b, dst: a } : { src: a, dst: b },
    tcp: {
      sport: o.rev ? dport : sport,
      dport: o.rev ? sport : dport,
      seq,
      ack,
      flags,
      win: o.win ?? 65535,
      ...(o.wscale !== undefined ? { options: { wscale: o.wscale } } : {}),
    },
  };
  if (o.payload !== undefined) spec.payload = o.payload;
  return spec;
}

export function udp(o: { rev?: boolean; sport?: number; dport?: number; src?: string; dst?: string; payload?: string } = {}): FrameSpec {
  const a = o.src ?? A;
  const b = o.dst ?? B;
  const sport = o.sport ?? 1000;
  const dport = o.dport ?? 2000;
  const spec: FrameSpec = {
    ip: o.rev ? { src: b, dst: a } : { src: a, dst: b },
    udp: o.rev ? { sport: dport, dport: sport } : { sport, dport },
  };
  if (o.payload !== undefined) spec.payload = o.payload;
  return spec;
}
