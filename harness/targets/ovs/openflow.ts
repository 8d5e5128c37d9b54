/**
 * Minimal OpenFlow 1.3 client for the bridge's management socket (`<rundir>/br0.mgmt`), just
 * enough to receive packet-ins with their pipeline metadata and exact bytes.
 *
 * Why OpenFlow and not `ovs-ofctl monitor` text: the monitor prints a decoded flow summary, not
 * the packet bytes, and a user `controller` output must be compared byte for byte. The binary
 * NXT_PACKET_IN2 message carries the data, the controller action's userdata (used to tell our
 * instrumentation apart), the table id and the metadata match with ct_state/ct_zone/ct_mark/
 * ct_label (openvswitch/ovs lib/ofp-packet.c `ofputil_put_packet_in`, `ofputil_decode_packet_in`).
 *
 * Why OpenFlow 1.3: with a connected OpenFlow 1.0–1.2 controller OVS turns table misses into
 * packet-ins (ofproto/connmgr.c `connmgr_wants_packet_in_on_miss`); on 1.3+ a miss drops, which
 * is the table-miss behaviour the model implements. Why OFPT_SET_CONFIG: a service connection
 * (punix:br0.mgmt) gets no asynchronous messages until it sets a non-zero miss_send_len
 * (connmgr.c `ofconn_receives_async_msg`).
 */
import { createConnection, type Socket } from 'node:net';
import { OvsError } from './errors.js';

const OFP13_VERSION = 0x04;
const OFPT_HELLO = 0;
const OFPT_ERROR = 1;
const OFPT_ECHO_REQUEST = 2;
const OFPT_ECHO_REPLY = 3;
const OFPT_EXPERIMENTER = 4;
const OFPT_SET_CONFIG = 9;
const OFPT_PACKET_IN = 10;
const OFPT13_MULTIPART_REQUEST = 18;
const OFPT13_MULTIPART_REPLY = 19;
const OFPT13_BARRIER_REQUEST = 20;
const OFPT13_BARRIER_REPLY = 21;
const OFPMP_FLOW = 1;
const OFPMPF_REPLY_MORE = 1;
const NX_VENDOR_ID = 0x00002320;
const NXT_SET_PACKET_IN_FORMAT = 16;
const NXT_PACKET_IN2 = 30;
const NXPIF_NXT_PACKET_IN2 = 2;

// NXT_PACKET_IN2 property types (include/openvswitch/ofp-packet.h `enum nx_packet_in2_prop_type`).
const NXPINT_PACKET = 0;
const NXPINT_FULL_LEN = 1;
const NXPINT_TABLE_ID = 3;
const NXPINT_COOKIE = 4;
const NXPINT_REASON = 5;
const NXPINT_METADATA = 6;
const NXPINT_USERDATA = 7;

// NXM/OXM headers (include/openvswitch/meta-flow.h): class << 16 | field << 9 | hasmask << 8 | len.
const NXM_OF_IN_PORT = (0x0000 << 16) | (0 << 9);
const OXM_OF_IN_PORT = (0x8000 << 16) | (0 << 9);
const NXM_NX_CT_STATE = (0x0001 << 16) | (105 << 9);
const NXM_NX_CT_ZONE = (0x0001 << 16) | (106 << 9);
const NXM_NX_CT_MARK = (0x0001 << 16) | (107 << 9);
const NXM_NX_CT_LABEL = (0x0001 << 16) | (108 << 9);

export interface PacketIn {
  tableId: number;
  cookie: bigint;
  /** ofp_packet_in_reason: 0 no_match, 1 action, … */
  reason: number;
  totalLen: number;
  data: Uint8Array;
  userdata: Uint8Array | null;
  inPort: number;
  /** ct fields from the metadata; absent fields (untracked, or zero) read 0. */
  ctState: number;
  ctZone: number;
  ctMark: number;
  ctLabel: bigint;
}

function header(type: number, length: number, xid: number): Buffer {
  const b = Buffer.alloc(length);
  b.writeUInt8(OFP13_VERSION, 0);
  b.writeUInt8(type, 1);
  b.writeUInt16BE(length, 2);
  b.writeUInt32BE(xid >>> 0, 4);
  return b;
}

/** One flow's statistics (OpenFlow 1.3 `ofp_flow_stats`, spec §7.3.5.2). */
export interface FlowStats {
  tableId: number;
  priority: number;
  cookie: bigint;
  packets: bigint;
}

/**
 * OFPMP_FLOW request for every table, port and group, flows whose cookie matches `cookie` under
 * `mask` (OpenFlow 1.3 §7.3.5.2 `ofp_flow_stats_request`), with an empty OXM match.
 */
export function flowStatsRequest(xid: number, cookie: bigint, mask: bigint): Buffer {
  const b = header(OFPT13_MULTIPART_REQUEST, 56, xid);
  b.writeUInt16BE(OFPMP_FLOW, 8); // type; flags 0, pad[4]
  b.writeUInt8(0xff, 16); // table_id OFPTT_ALL; pad[3]
  b.writeUInt32BE(0xffffffff, 20); // out_port OFPP_ANY
  b.writeUInt32BE(0xffffffff, 24); // out_group OFPG_ANY; pad[4]
  b.writeBigUInt64BE(cookie, 32);
  b.writeBigUInt64BE(mask, 40);
  b.writeUInt16BE(1, 48); // ofp_match type OFPMT_OXM
  b.writeUInt16BE(4, 50); // length (no OXM field); padded to 8
  return b;
}

/** The `ofp_flow_stats` entries of one OFPMP_FLOW reply body (after the 16-byte multipart header). */
export function decodeFlowStats(body: Buffer): FlowStats[] {
  const out: FlowStats[] = [];
  for (let off = 0; off + 48 <= body.length; ) {
    const len = body.readUInt16BE(off);
    if (len < 48 || off + len > body.length) throw new OvsError('CTO_OVS_PROTOCOL', `OpenFlow: bad ofp_flow_stats length ${len} at ${off}`);
    out.push({ tableId: body.readUInt8(off + 2), priority: body.readUInt16BE(off + 12), cookie: body.readBigUInt64BE(off + 24), packets: body.readBigUInt64BE(off + 32) });
    off += len;
  }
  return out;
}

export class OpenFlowClient {
  private sock: Socket | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private xid = 1;
  private barriers = new Map<number, { resolve: () => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private helloSeen: (() => void) | null = null;
  /** Flow statistics requests under way by xid: their entries so far. */
  private stats = new Map<number, { got: FlowStats[]; resolve: (f: FlowStats[]) => void; reject: (e: Error) => void; timer: NodeJS.Timeout }>();
  private closedError: Error | null = null;
  /** OFPT_ERRORs received (OVS's text is not on the wire: type/code numbers). */
  readonly errors: { type: number; code: number; xid: number }[] = [];
  onPacketIn: (p: PacketIn) => void = () => {};
  onClose: (e: Error) => void = () => {};

  private constructor(readonly path: string) {}

  static async connect(path: string, timeoutMs: number): Promise<OpenFlowClient> {
    const c = new OpenFlowClient(path);
    const deadline = setTimeout(() => {
      c.fail(new OvsError('CTO_OVS_TIMEOUT', `OpenFlow ${path}: no HELLO within ${timeoutMs} ms`, path));
      c.sock?.destroy();
    }, timeoutMs);
    try {
      await new Promise<void>((resolve, reject) => {
        const s = createConnection(path);
        c.sock = s;
        c.helloSeen = resolve;
        c.onClose = reject;
        s.on('data', (d: Buffer) => c.onData(d));
        s.on('error', (e) => c.fail(new OvsError('CTO_OVS_COMMAND', `OpenFlow ${path}: ${e.message}`, path)));
        s.on('close', () => c.fail(new OvsError('CTO_OVS_EXIT', `OpenFlow ${path}: connection closed`, path)));
        s.once('connect', () => s.write(header(OFPT_HELLO, 8, c.xid++)));
      });
    } finally {
      clearTimeout(deadline);
    }
    c.onClose = () => {};
    // miss_send_len=0xffff (OFPCML_NO_BUFFER): enables async messages on a service connection.
    const cfg = header(OFPT_SET_CONFIG, 12, c.xid++);
    cfg.writeUInt16BE(0, 8);
    cfg.writeUInt16BE(0xffff, 10);
    c.sock!.write(cfg);
    const fmt = header(OFPT_EXPERIMENTER, 20, c.xid++);
    fmt.writeUInt32BE(NX_VENDOR_ID, 8);
    fmt.writeUInt32BE(NXT_SET_PACKET_IN_FORMAT, 12);
    fmt.writeUInt32BE(NXPIF_NXT_PACKET_IN2, 16);
    c.sock!.write(fmt);
    await c.barrier(timeoutMs);
    if (c.errors.length > 0) {
      const e = c.errors[0]!;
      throw new OvsError('CTO_OVS_PROTOCOL', `OpenFlow ${path}: switch refused set-up (OFPT_ERROR type ${e.type} code ${e.code})`, path);
    }
    return c;
  }

  /**
   * OFPT_BARRIER: every message we sent before it has been processed. (It says nothing about
   * datapath packet processing; the target uses a sentinel packet for that.)
   */
  barrier(timeoutMs: number): Promise<void> {
    if (this.closedError) return Promise.reject(this.closedError);
    const xid = this.xid++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.barriers.delete(xid);
        reject(new OvsError('CTO_OVS_TIMEOUT', `OpenFlow ${this.path}: no barrier reply within ${timeoutMs} ms`, this.path));
      }, timeoutMs);
      this.barriers.set(xid, { resolve, reject, timer });
      this.sock!.write(header(OFPT13_BARRIER_REQUEST, 8, xid));
    });
  }

  /**
   * Flow statistics of the flows whose cookie matches `cookie`/`mask` (n_packets as
   * `ovs-ofctl dump-flows` shows them), over this connection: no process to start.
   */
  flowStats(cookie: bigint, mask: bigint, timeoutMs: number): Promise<FlowStats[]> {
    if (this.closedError) return Promise.reject(this.closedError);
    const xid = this.xid++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.stats.delete(xid);
        reject(new OvsError('CTO_OVS_TIMEOUT', `OpenFlow ${this.path}: no flow statistics reply within ${timeoutMs} ms`, this.path));
      }, timeoutMs);
      this.stats.set(xid, { got: [], resolve, reject, timer });
      this.sock!.write(flowStatsRequest(xid, cookie, mask));
    });
  }

  close(): void {
    this.fail(new OvsError('CTO_OVS_STATE', `OpenFlow ${this.path}: closed`, this.path));
    this.sock?.destroy();
    this.sock = null;
  }

  private fail(e: Error): void {
    if (this.closedError) return;
    this.closedError = e;
    for (const b of this.barriers.values()) {
      clearTimeout(b.timer);
      b.reject(e);
    }
    this.barriers.clear();
    for (const r of this.stats.values()) {
      clearTimeout(r.timer);
      r.reject(e);
    }
    this.stats.clear();
    this.onClose(e);
  }

  private onData(d: Buffer): void {
    this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
    while (this.buf.length >= 8) {
      const len = this.buf.readUInt16BE(2);
      if (len < 8) {
        this.fail(new OvsError('CTO_OVS_PROTOCOL', `OpenFlow ${this.path}: bad message length ${len}`));
        this.sock?.destroy();
        return;
      }
      if (this.buf.length < len) return;
      const msg = this.buf.subarray(0, len);
      this.buf = this.buf.subarray(len);
      try {
        this.handle(msg);
      } catch (e) {
        this.fail(e as Error);
        this.sock?.destroy();
        return;
      }
    }
  }

  private handle(m: Buffer): void {
    const type = m.readUInt8(1);
    const xid = m.readUInt32BE(4);
    switch (type) {
      case OFPT_HELLO:
        this.helloSeen?.();
        this.helloSeen = null;
        return;
      case OFPT_ECHO_REQUEST: {
        const r = Buffer.from(m);
        r.writeUInt8(OFPT_ECHO_REPLY, 1);
        this.sock?.write(r);
        return;
      }
      case OFPT_ERROR: {
        const r = this.stats.get(xid);
        if (r) {
          // Our request was refused: say so to its caller rather than waiting out the deadline.
          this.stats.delete(xid);
          clearTimeout(r.timer);
          r.reject(new OvsError('CTO_OVS_PROTOCOL', `OpenFlow ${this.path}: flow statistics refused (OFPT_ERROR type ${m.readUInt16BE(8)} code ${m.readUInt16BE(10)})`, this.path));
          return;
        }
        this.errors.push({ type: m.readUInt16BE(8), code: m.readUInt16BE(10), xid });
        return;
      }
      case OFPT13_MULTIPART_REPLY: {
        const r = this.stats.get(xid);
        if (!r || m.length < 16 || m.readUInt16BE(8) !== OFPMP_FLOW) return;
        r.got.push(...decodeFlowStats(m.subarray(16)));
        if ((m.readUInt16BE(10) & OFPMPF_REPLY_MORE) === 0) {
          this.stats.delete(xid);
          clearTimeout(r.timer);
          r.resolve(r.got);
        }
        return;
      }
      case OFPT13_BARRIER_REPLY: {
        const b = this.barriers.get(xid);
        if (b) {
          this.barriers.delete(xid);
          clearTimeout(b.timer);
          b.resolve();
        }
        return;
      }
      case OFPT_EXPERIMENTER:
        if (m.length >= 16 && m.readUInt32BE(8) === NX_VENDOR_ID && m.readUInt32BE(12) === NXT_PACKET_IN2) {
          this.onPacketIn(decodePacketIn2(m.subarray(16)));
        }
        return;
      case OFPT_PACKET_IN:
        // Only if the format switch failed; connect() refuses that case.
        throw new OvsError('CTO_OVS_PROTOCOL', `OpenFlow ${this.path}: unexpected standard packet-in`);
      default:
        return; // port-status and other async messages are irrelevant here
    }
  }
}

/** Decode the property list of an NXT_PACKET_IN2 body (after the 16-byte experimenter header). */
export function decodePacketIn2(body: Buffer): PacketIn {
  const p: PacketIn = {
    tableId: 0,
    cookie: 0n,
    reason: 0,
    totalLen: 0,
    data: new Uint8Array(0),
    userdata: null,
    inPort: 0,
    ctState: 0,
    ctZone: 0,
    ctMark: 0,
    ctLabel: 0n,
  };
  let off = 0;
  while (off + 4 <= body.length) {
    const ptype = body.readUInt16BE(off);
    const plen = body.readUInt16BE(off + 2);
    if (plen < 4 || off + plen > body.length) {
      throw new OvsError('CTO_OVS_PROTOCOL', `NXT_PACKET_IN2: bad property length ${plen} at ${off}`);
    }
    const v = body.subarray(off + 4, off + plen);
    switch (ptype) {
      case NXPINT_PACKET:
        p.data = new Uint8Array(v);
        break;
      case NXPINT_FULL_LEN:
        p.totalLen = v.readUInt32BE(0);
        break;
      case NXPINT_TABLE_ID:
        p.tableId = v.readUInt8(0);
        break;
      case NXPINT_COOKIE:
        p.cookie = v.readBigUInt64BE(4); // 4 bytes of padding precede the 64-bit cookie
        break;
      case NXPINT_REASON:
        p.reason = v.readUInt8(0);
        break;
      case NXPINT_METADATA:
        decodeMetadata(v, p);
        break;
      case NXPINT_USERDATA:
        p.userdata = new Uint8Array(v);
        break;
      default:
        break;
    }
    off += (plen + 7) & ~7; // properties are padded to 8 bytes
  }
  if (p.totalLen === 0) p.totalLen = p.data.length;
  return p;
}

function decodeMetadata(v: Buffer, p: PacketIn): void {
  let off = 0;
  while (off + 4 <= v.length) {
    const h = v.readUInt32BE(off);
    const len = h & 0xff;
    const hasMask = (h >>> 8) & 1;
    const key = (h & ~0x1ff) >>> 0;
    const cls = h >>> 16;
    let val = off + 4;
    let vlen = len;
    if (cls === 0xffff) {
      val += 4; // experimenter id is part of the payload length
      vlen -= 4;
    }
    if (off + 4 + len > v.length) throw new OvsError('CTO_OVS_PROTOCOL', `packet-in metadata truncated at ${off}`);
    // OVS encodes ct_state with a mask (0x21/0xff: the defined bits), others exactly; a masked
    // field's value is the first half, already ANDed with the mask (lib/nx-match.c).
    if (hasMask) vlen >>= 1;
    if (key === (NXM_NX_CT_STATE >>> 0) && vlen === 4) p.ctState = v.readUInt32BE(val);
    else if (key === (NXM_NX_CT_ZONE >>> 0) && vlen === 2) p.ctZone = v.readUInt16BE(val);
    else if (key === (NXM_NX_CT_MARK >>> 0) && vlen === 4) p.ctMark = v.readUInt32BE(val);
    else if (key === (NXM_NX_CT_LABEL >>> 0) && vlen === 16)
      p.ctLabel = (v.readBigUInt64BE(val) << 64n) | v.readBigUInt64BE(val + 8);
    else if (key === (OXM_OF_IN_PORT >>> 0) && vlen === 4) p.inPort = v.readUInt32BE(val);
    else if (key === (NXM_OF_IN_PORT >>> 0) && vlen === 2) p.inPort = v.readUInt16BE(val);
    off += 4 + len;
  }
}
