/**
 * Userspace IP fragment reassembly ("ipf") of OVS 3.1, the step `conntrack_execute` runs
 * before and after the tracker (openvswitch/ovs lib/ipf.c at v3.1.0:
 * `ipf_preprocess_conntrack`, `ipf_is_valid_v4_frag`, `ipf_is_valid_v6_frag`,
 * `ipf_handle_frag`, `ipf_process_frag`, `ipf_list_state_transition`,
 * `ipf_reassemble_v4_frags`, `ipf_reassemble_v6_frags`, `ipf_postprocess_conntrack`,
 * `ipf_post_execute_reass_pkts`, `ipf_send_completed_frags`, `ipf_send_expired_frags`,
 * `ipf_purge_list_check`, `ipf_clean_thread_main`; knobs from lib/dpctl.c `ipf-*`;
 * docs/conntrack-semantics.md §2.3 step 1, §3.4, §9.4, §9.5).
 *
 * Rules reproduced (v3.1.0, source-read):
 *  - Enabled for v4 and v6 by default. While either family is enabled every fragment that
 *    reaches ct() is checked: IPv4 header ≥ 20 bytes, total length = L3 bytes (Ethernet padding
 *    stripped), IHL ≥ 5, header checksum; IPv6 parsed. A non-final fragment (offset 0 or MF/M
 *    set) with fewer L3 bytes than the minimum (1200 v4, 1280 v6; `ipf-set-min-frag`, ≥ 400) is
 *    "too small". Any failure marks the packet CS_INVALID, which the tracker turns into
 *    `inv|trk` (IPF_INVALID). A family that is disabled, the `nfrag_max` limit (1000,
 *    `ipf-set-max-nfrags` ≤ 5000), a list that already completed or failed reassembly, or a
 *    full fragment list let the fragment bypass ipf (IPF_PASS): the tracker then refuses it as a
 *    fragment, also `inv|trk`.
 *  - Lists are keyed by (src, dst, IP id, dl_type, zone, recirc_id, and nw_proto for IPv4).
 *    A fragment whose first or last data byte lies inside a held fragment is an overlap
 *    (`ipf_is_frag_duped`; note: a fragment that strictly contains a held one is NOT caught, the
 *    list then never completes and expires). Accepted fragments are held (IPF_HELD).
 *  - Once the first and the last fragment have been seen and the sorted data is contiguous,
 *    the datagram is rebuilt from the first fragment's frame (IPF_COMPLETE), goes through the
 *    tracker once, and every fragment is released in offset order carrying that datagram's
 *    ct_state, ct_zone, ct_mark, ct_label and original tuple. The datagram is not forwarded.
 *  - A datagram longer than 65535 bytes fails reassembly: the list stays (state "reassemble
 *    fail"), later fragments of it bypass, and its fragments only leave through expiry.
 *  - An incomplete list expires 15 s after its first fragment (strictly later, `now >
 *    expiration`). Expired fragments are released at the end of some later ct() call of any
 *    packet, any zone, any family, at most one list per call, with ct_state set to CS_INVALID
 *    (see IPF_EXPIRED_CT_STATE) and their other ct fields as they were when they entered the
 *    ct() that held them — 0 for an untracked fragment here, where OVS 3.1 leaves them
 *    uninitialised and reports heap leftovers (docs/conntrack-semantics.md §3.4; excused by the
 *    harness row ovs-expired-fragment-uninit-ct-fields). A list still unsent 10 s after expiry
 *    is purged (dropped, counted).
 *  - Counters as `dpctl/ipf-get-status`.
 *
 * Mapping to the model:
 *  - OVS's `recirc_id` is the datapath recirculation id of the pass the packet is in when it
 *    reaches this ct(): 0 before any recirculation, else the id xlate allocated for the frozen
 *    state that resumes after a `ct(table=T)` (ofproto/ofproto-dpif-rid.c; the frozen state
 *    holds the table, the actions still to run, in_port and registers/metadata). The model
 *    takes it as an opaque uint32 `recircId`: the pipeline passes 0 for the first pass and, for
 *    a later pass, a stable id per (ct() action that recirculated, in_port, registers and
 *    metadata), e.g. from a Map of that tuple's text to a counter. Two ct() calls in the same
 *    pass share the id, as in OVS.
 *  - Batches: the model runs one packet per batch (as `netdev-dummy/receive` does). The
 *    "batch" after a ct() call is `IpfBatch`: the packet itself unless ipf held it, then the
 *    released fragments (completed lists in offset order, then at most one expired list), at
 *    most NETDEV_MAX_BURST (32) packets; fragments that do not fit stay queued for a later
 *    call, as in OVS.
 *  - Cached connection: OVS never copies `md.conn` into fragments, so released fragments and
 *    the datagram never take the same-zone shortcut (§2.3 step 2); their `md.conn` is -1. A
 *    fragment that meets a second ct() (e.g. `ct(table=1)` then `ct(commit)`) is held and
 *    reassembled again under the new recirc_id and the datagram is tracked a second time.
 *  - Flow visibility: miniflow_extract (lib/flow.c) only puts ct_tp_src/ct_tp_dst in the flow
 *    key next to an L4 header, so a later fragment reads them as 0; the released md of a later
 *    fragment therefore has origSport/origDport = 0 (the first fragment keeps the ports).
 *  - Not modelled: NAT rewrites of the fragments' addresses/L4 header after tracking; the
 *    ipf_clean_thread's 60 s wall-clock timer (call `runCleaner(now)` to imitate it).
 *
 * Integration for the pipeline (model/pipeline), replacing a bare `conntrack.execute`:
 *
 *     conntrackExecute(ct, view, args, now, md, recircId, batch, tag)
 *
 *  - `batch.self`: the current packet continues with the remaining datapath actions of this
 *    pass (false: ipf held it; nothing of this pass runs further for it).
 *  - `batch.frags[i]`: each released fragment continues with the SAME remaining datapath
 *    actions of the current pass (OVS applies the rest of the completing packet's actions to
 *    the whole batch), with its own bytes (`frame`, parse it into a view) and its own ct fields
 *    (`md`: copy it into the md used for the rest of the pass and any recirculation). Registers,
 *    metadata and in_port after a recirculation are the current packet's (the frozen state),
 *    header fields are the fragment's. To follow OVS's output order, run each remaining action
 *    over the current packet (if `self`) and then every fragment before the next action.
 *  - Outputs of released fragments belong to the verdict of the packet whose ct() call
 *    released them (they leave OVS when that packet is injected); `tag` is yours to record
 *    which input step a fragment came from.
 *  - `batch.datagram`: the reassembled frame tracked in this call (trace/notes only).
 *
 * Hot path: a packet the view calls trackable, with no fragment list in flight, costs one
 * branch (`ctStatus === CT_OK && ipf.idle`) before `Conntrack.execute`; everything else here
 * allocates only for fragments.
 */
import { CS_INVALID } from '../ctstate.js';
import { CtoffloadError } from '../errors.js';
import { formatIpv6 } from '../packet/addr.js';
import { checksumOk, finishChecksum, sum16 } from '../packet/checksum.js';
import { CT_OK, FRAG_NONE, L3_IPV4, L3_IPV6, PacketView, ipv4ToString } from '../packet/view.js';
import type { Conntrack } from './conntrack.js';
import { CtMeta, type CtArgs } from './types.js';

// ---- constants of lib/ipf.c v3.1.0 ------------------------------------------------------------

export const IPF_V4_FRAG_SIZE_LBOUND = 400;
export const IPF_V4_FRAG_SIZE_MIN_DEF = 1200;
export const IPF_V6_FRAG_SIZE_LBOUND = 400;
export const IPF_V6_FRAG_SIZE_MIN_DEF = 1280;
export const IPF_MAX_FRAGS_DEFAULT = 1000;
export const IPF_NFRAG_UBOUND = 5000;
/** `ipf_expiry_list_add`: an incomplete list expires this long after its first fragment. */
export const IPF_FRAG_LIST_TIMEOUT = 15_000;
/** `ipf_purge_list_check`: unsent fragments are dropped this long after expiry. */
export const IPF_FRAG_LIST_PURGE_TIME_ADJ = 10_000;
/** `ipf_send_expired_frags`: lists released (or purged) per ct() call. */
const IPF_FRAG_LIST_MAX_EXPIRED = 1;
const IPF_FRAG_LIST_MIN_INCREMENT = 4;
const IPF_IPV6_MAX_FRAG_LIST_SIZE = 65535;
const IPV4_PACKET_MAX_HDR_SIZE = 60;
const IPV4_PACKET_MAX_SIZE = 65535;
const IPV6_PACKET_MAX_DATA = 65535;
/** lib/dp-packet.h: a batch holds at most this many packets. */
export const NETDEV_MAX_BURST = 32;

/**
 * ct_state an expired fragment carries when released: `ipf_send_frags_in_list` sets
 * `md.ct_state = CS_INVALID` after the tracker has run, so the `trk` bit is NOT added (it
 * appears only if the fragment meets another ct()). docs/conntrack-semantics.md §3.4 says
 * "inv|trk" without an [obs] mark; the v3.1.0 source says `inv` alone.
 */
export const IPF_EXPIRED_CT_STATE = CS_INVALID;

/** Results of `Ipf.preprocess`. */
export const IPF_PASS = 0; // not ipf's: the tracker sees the packet as it is
export const IPF_INVALID = 1; // ipf marked it CS_INVALID: the tracker writes inv|trk
export const IPF_HELD = 2; // held in a fragment list; the packet leaves the pipeline
export const IPF_COMPLETE = 3; // held and completed a list: track `datagramView`, then postprocess

/** `enum ipf_list_state` and `ipf_state_name[]`. */
const S_UNUSED = 0;
const S_REASS_FAIL = 1;
const S_OTHER_SEEN = 2;
const S_FIRST_SEEN = 3;
const S_LAST_SEEN = 4;
const S_FIRST_LAST_SEEN = 5;
const S_COMPLETED = 6;
export const IPF_LIST_STATE_NAMES = [
  'unused', 'reassemble fail', 'other frag', 'first frag', 'last frag', 'first/last frag', 'complete',
] as const;

/** `enum ipf_counter_type`. */
const C_ACCEPTED = 0;
const C_COMPL_SENT = 1;
const C_EXPD_SENT = 2;
const C_TOO_SMALL = 3;
const C_OVERLAP = 4;
const C_PURGED = 5;

export class IpfConfigError extends CtoffloadError {
  constructor(message: string) {
    super('CTO_IPF_CONFIG', message);
  }
}

/** One held fragment (`struct ipf_frag` plus what the model needs to release it). */
export interface IpfFragment {
  /** The fragment's frame as it entered ct() (a copy, Ethernet padding included). */
  readonly frame: Uint8Array;
  /** The ct fields it carries when released (see the module comment). `conn` is -1. */
  readonly md: CtMeta;
  /** The caller's tag given to `preprocess` (e.g. the trace step of the fragment). */
  readonly tag: number;
  readonly v6: boolean;
  /** Fragment offset in bytes. */
  readonly offset: number;
  /** `start_data_byte` / `end_data_byte` (uint16; IPv6 adds the 8-byte fragment header). */
  readonly start: number;
  readonly end: number;
}

class Frag implements IpfFragment {
  constructor(
    readonly frame: Uint8Array,
    readonly md: CtMeta,
    readonly tag: number,
    readonly v6: boolean,
    readonly offset: number,
    readonly start: number,
    readonly end: number,
    /** Offset of the fragment's data in `frame` (`dp_packet_l4`). */
    readonly dataOff: number,
    readonly l3Off: number,
    readonly ff: boolean,
  ) {}
}

/** `struct ipf_list`. */
class IpfList {
  readonly frags: Frag[] = [];
  lastSent = -1;
  state = S_UNUSED;
  constructor(
    readonly key: string,
    readonly v6: boolean,
    readonly text: string,
    public size: number,
    readonly expiration: number,
  ) {}
}

export interface IpfProtoStatus {
  enabled: boolean;
  minFragSize: number;
  accepted: number;
  /** nfrag_completed_sent */
  completed: number;
  /** nfrag_expired_sent */
  expired: number;
  tooSmall: number;
  overlapped: number;
  purged: number;
}

/** `struct ipf_status` (dpctl/ipf-get-status). */
export interface IpfStatus {
  v4: IpfProtoStatus;
  v6: IpfProtoStatus;
  /** Fragments held now. */
  nfrag: number;
  nfragMax: number;
}

/**
 * The packets that continue after one ct() call (the datapath batch). Reused: the contents are
 * valid until the next call that takes this batch.
 */
export class IpfBatch {
  /** The packet given to the call continues (false: ipf held it). */
  self = true;
  /** Fragments released by the call, in batch order. */
  readonly frags: IpfFragment[] = [];
  /** The reassembled datagram that was tracked in the call, else null (not forwarded). */
  datagram: Uint8Array | null = null;

  reset(): void {
    this.self = true;
    if (this.frags.length !== 0) this.frags.length = 0;
    this.datagram = null;
  }

  /** Free slots (`dp_packet_batch_is_full`). */
  room(): number {
    return NETDEV_MAX_BURST - (this.self ? 1 : 0) - this.frags.length;
  }
}

function u16(b: Uint8Array, o: number): number {
  return (b[o]! << 8) | b[o + 1]!;
}

function divRoundUp(x: number, y: number): number {
  return Math.floor((x + y - 1) / y);
}

function copyMd(dst: CtMeta, src: CtMeta): void {
  dst.copyFrom(src);
  // Fragments never carry a cached connection (`ipf_post_execute_reass_pkts` copies only the
  // ct_* fields), so neither they nor a datagram cloned from one take `process_one_fast`.
  dst.conn = -1;
  dst.connId = 0;
}

export class Ipf {
  private v4Enabled = true;
  private v6Enabled = true;
  private minV4 = IPF_V4_FRAG_SIZE_MIN_DEF;
  private minV6 = IPF_V6_FRAG_SIZE_MIN_DEF;
  private maxV4ListSize = divRoundUp(IPV4_PACKET_MAX_SIZE - IPV4_PACKET_MAX_HDR_SIZE, IPF_V4_FRAG_SIZE_MIN_DEF - IPV4_PACKET_MAX_HDR_SIZE);
  private nfragMax = IPF_MAX_FRAGS_DEFAULT;
  /** Fragments held (`ipf->nfrag`). */
  private nfrag = 0;
  /** `frag_lists` (insertion order stands in for the hmap's order in dumps). */
  private readonly lists = new Map<string, IpfList>();
  /** `frag_exp_list`: incomplete lists, oldest first. */
  private readonly expList = new Set<IpfList>();
  /** `frag_complete_list`: tracked lists whose fragments are (still) to be sent. */
  private readonly completeList = new Set<IpfList>();
  /** The list whose datagram awaits the tracker (`reassembled_pkt_list`; one at most here). */
  private pending: IpfList | null = null;
  private readonly cnt = [new Float64Array(6), new Float64Array(6)];

  /** The datagram built by the last IPF_COMPLETE, parsed; hand it to `Conntrack.execute`. */
  readonly datagramView = new PacketView();
  datagramFrame: Uint8Array | null = null;
  /** The md to track the datagram with (the first fragment's at hold time, no cached conn). */
  readonly datagramMd = new CtMeta();

  /** Nothing in flight: `postprocess` would do nothing. */
  get idle(): boolean {
    return this.lists.size === 0;
  }

  // ------------------------------------------------------------------ configuration (dpctl)

  /** `dpctl/ipf-set-enabled v4|v6` / `ipf-set-disabled v4|v6`. */
  setEnabled(v6: boolean, enabled: boolean): void {
    if (v6) this.v6Enabled = enabled;
    else this.v4Enabled = enabled;
  }

  /** `dpctl/ipf-set-min-frag v4|v6 N`: refused below 400 ("requested minimum fragment size too small"). */
  setMinFrag(v6: boolean, bytes: number): void {
    const lb = v6 ? IPF_V6_FRAG_SIZE_LBOUND : IPF_V4_FRAG_SIZE_LBOUND;
    if (!Number.isInteger(bytes) || bytes < lb || bytes > 0xffffffff) {
      throw new IpfConfigError(`ipf-set-min-frag ${v6 ? 'v6' : 'v4'} ${bytes}: requested minimum fragment size too small (at least ${lb}) or not a uint32`);
    }
    if (v6) this.minV6 = bytes;
    else {
      this.minV4 = bytes;
      this.maxV4ListSize = divRoundUp(IPV4_PACKET_MAX_SIZE - IPV4_PACKET_MAX_HDR_SIZE, bytes - IPV4_PACKET_MAX_HDR_SIZE);
    }
  }

  /** `dpctl/ipf-set-max-nfrags N`: at most 5000. */
  setMaxNfrags(n: number): void {
    if (!Number.isInteger(n) || n < 0 || n > IPF_NFRAG_UBOUND) {
      throw new IpfConfigError(`ipf-set-max-nfrags ${n}: setting maximum fragments failed (0-${IPF_NFRAG_UBOUND})`);
    }
    this.nfragMax = n;
  }

  /** `ipf_get_status`. */
  status(): IpfStatus {
    const p = (v6: boolean): IpfProtoStatus => {
      const c = this.cnt[v6 ? 1 : 0]!;
      return {
        enabled: v6 ? this.v6Enabled : this.v4Enabled,
        minFragSize: v6 ? this.minV6 : this.minV4,
        accepted: c[C_ACCEPTED]!,
        completed: c[C_COMPL_SENT]!,
        expired: c[C_EXPD_SENT]!,
        tooSmall: c[C_TOO_SMALL]!,
        overlapped: c[C_OVERLAP]!,
        purged: c[C_PURGED]!,
      };
    };
    return { v4: p(false), v6: p(true), nfrag: this.nfrag, nfragMax: this.nfragMax };
  }

  /** The fragment lists as `ipf_dump_create` prints them (`dpctl/ipf-get-status -m`). */
  dumpLists(): string[] {
    const out: string[] = [];
    for (const l of this.lists.values()) {
      out.push(`(${l.text},num_fragments=${l.frags.length},state=${IPF_LIST_STATE_NAMES[l.state]})`);
    }
    return out;
  }

  // ------------------------------------------------------------------ preprocess

  /**
   * `ipf_preprocess_conntrack` for a batch of one: decide what happens to `view` (the packet
   * at a ct() in `zone`, pass `recircId`). `md` is the packet's ct metadata before this call
   * (kept for an expiry release and for the datagram); `tag` is returned with the fragment.
   * After IPF_COMPLETE, track `datagramView` with `datagramMd`, then call `postprocess`.
   * Never throws.
   */
  preprocess(view: PacketView, zone: number, recircId: number, now: number, md?: CtMeta, tag = 0): number {
    if (!this.v4Enabled && !this.v6Enabled) return IPF_PASS; // `ipf_get_enabled`
    if (view.l3 === L3_IPV4) return this.v4(view, zone & 0xffff, recircId >>> 0, now, md, tag);
    if (view.l3 === L3_IPV6) return this.v6(view, zone & 0xffff, recircId >>> 0, now, md, tag);
    return IPF_PASS;
  }

  /** `ipf_is_valid_v4_frag` + `ipf_v4_key_extract`. */
  private v4(view: PacketView, zone: number, recircId: number, now: number, md: CtMeta | undefined, tag: number): number {
    const b = view.buf;
    const off = view.l3Off;
    // dp_packet_l3_size: miniflow_extract strips Ethernet padding only when the header passed
    // ipv4_sanity_check (flowL3).
    const l3Size = view.flowL3 ? view.l3End - off : view.len - off;
    if (l3Size < 20) return IPF_INVALID;
    const fo = u16(b, off + 6);
    if ((fo & 0x3fff) === 0) return IPF_PASS; // !IP_IS_FRAGMENT
    const tot = u16(b, off + 2);
    if (tot !== l3Size) return IPF_INVALID;
    const ihl = (b[off]! & 0x0f) * 4;
    if (ihl < 20 || l3Size < ihl) return IPF_INVALID;
    if (!checksumOk(b, off, ihl)) return IPF_INVALID; // counted by coverage only
    const offset = (fo & 0x1fff) * 8;
    const mf = (fo & 0x2000) !== 0;
    const lf = offset !== 0 && !mf;
    if (!lf && l3Size < this.minV4) {
      this.cnt[0]![C_TOO_SMALL]!++;
      return IPF_INVALID;
    }
    if (!this.v4Enabled) return IPF_PASS; // ipf_handle_frag: family disabled
    const start = offset & 0xffff;
    const end = (start + tot - ihl - 1) & 0xffff; // uint16 in OVS
    const proto = b[off + 9]!;
    const src = view.src[0]!;
    const dst = view.dst[0]!;
    const id = u16(b, off + 4);
    const key = `4/${src}/${dst}/${id}/${zone}/${recircId}/${proto}`;
    return this.handle(view, key, false, now, md, tag, offset, start, end, off + ihl, offset === 0 && mf, lf, () =>
      `src=${ipv4ToString(src)},dst=${ipv4ToString(dst)},recirc_id=${recircId},ip_id=${id},dl_type=0x800,zone=${zone},nw_proto=${proto}`);
  }

  /** `ipf_is_valid_v6_frag` + `ipf_v6_key_extract`. */
  private v6(view: PacketView, zone: number, recircId: number, now: number, md: CtMeta | undefined, tag: number): number {
    // No L3/L4 offsets (ipv6_sanity_check or the extension-header walk failed) → invalid.
    if (!view.flowL3) return IPF_INVALID;
    if (view.frag === FRAG_NONE) return IPF_PASS;
    const offset = view.fragOffset;
    const more = view.moreFragments;
    // `ipf_is_v6_frag` looks at the offset and M only: reserved bits alone are not ipf's (the
    // tracker still refuses the packet as a fragment).
    if (offset === 0 && !more) return IPF_PASS;
    const l3Size = view.l3End - view.l3Off; // payload length + 40 always equals it here
    const lf = offset !== 0 && !more;
    if (!lf && l3Size < this.minV6) {
      this.cnt[1]![C_TOO_SMALL]!++;
      return IPF_INVALID;
    }
    if (!this.v6Enabled) return IPF_PASS;
    // dp_packet_l4 of a first fragment lies after ALL extension headers, so a first fragment
    // with headers after the fragment header never lines up with the next one (OVS quirk kept).
    const start = (offset + 8) & 0xffff;
    const end = (start + view.l4Len - 1) & 0xffff;
    const s = view.src;
    const d = view.dst;
    const id = view.ipId >>> 0;
    const key = `6/${s[0]}/${s[1]}/${s[2]}/${s[3]}/${d[0]}/${d[1]}/${d[2]}/${d[3]}/${id}/${zone}/${recircId}`;
    return this.handle(view, key, true, now, md, tag, offset, start, end, view.l4Off, offset === 0 && more, lf, () => {
      const a = new Uint8Array(16);
      const w = (x: Uint32Array): string => {
        for (let i = 0; i < 4; i++) {
          a[4 * i] = x[i]! >>> 24;
          a[4 * i + 1] = (x[i]! >>> 16) & 255;
          a[4 * i + 2] = (x[i]! >>> 8) & 255;
          a[4 * i + 3] = x[i]! & 255;
        }
        return formatIpv6(a);
      };
      return `src=${w(s)},dst=${w(d)},recirc_id=${recircId},ip_id=${id},dl_type=0x86dd,zone=${zone},nw_proto=0`;
    });
  }

  /** `ipf_handle_frag` + `ipf_process_frag`. */
  private handle(
    view: PacketView,
    key: string,
    v6: boolean,
    now: number,
    md: CtMeta | undefined,
    tag: number,
    offset: number,
    start: number,
    end: number,
    dataOff: number,
    ff: boolean,
    lf: boolean,
    text: () => string,
  ): number {
    if (this.nfrag >= this.nfragMax) return IPF_PASS;
    const maxSize = v6 ? IPF_IPV6_MAX_FRAG_LIST_SIZE : this.maxV4ListSize;
    let list = this.lists.get(key);
    if (!list) {
      list = new IpfList(key, v6, text(), Math.min(maxSize, IPF_FRAG_LIST_MIN_INCREMENT), now + IPF_FRAG_LIST_TIMEOUT);
      this.lists.set(key, list);
      this.expList.add(list);
    } else if (list.state === S_REASS_FAIL || list.state === S_COMPLETED) {
      return IPF_PASS; // "Bail out as early as possible."
    } else if (list.frags.length >= list.size) {
      const inc = Math.min(IPF_FRAG_LIST_MIN_INCREMENT, maxSize - list.size);
      if (inc <= 0) return IPF_PASS; // list size limit
      list.size += inc;
    }
    const c = this.cnt[v6 ? 1 : 0]!;
    // `ipf_is_frag_duped`
    for (const f of list.frags) {
      if ((start >= f.start && start <= f.end) || (end >= f.start && end <= f.end)) {
        c[C_OVERLAP]!++;
        return IPF_INVALID;
      }
    }
    const snap = new CtMeta();
    if (md) copyMd(snap, md);
    const frame = view.buf.slice(0, view.len);
    list.frags.push(new Frag(frame, snap, tag, v6, offset, start, end, dataOff, view.l3Off, ff));
    this.nfrag++;
    c[C_ACCEPTED]!++;
    this.transition(list, ff, lf);
    if (list.state === S_COMPLETED) {
      this.pending = list;
      return IPF_COMPLETE;
    }
    return IPF_HELD;
  }

  /** `ipf_list_state_transition`. */
  private transition(list: IpfList, ff: boolean, lf: boolean): void {
    let next: number;
    switch (list.state) {
      case S_UNUSED:
      case S_OTHER_SEEN:
        next = ff ? S_FIRST_SEEN : lf ? S_LAST_SEEN : S_OTHER_SEEN;
        break;
      case S_FIRST_SEEN:
        next = lf ? S_FIRST_LAST_SEEN : S_FIRST_SEEN;
        break;
      case S_LAST_SEEN:
        next = ff ? S_FIRST_LAST_SEEN : S_LAST_SEEN;
        break;
      default:
        next = S_FIRST_LAST_SEEN;
    }
    if (next === S_FIRST_LAST_SEEN) {
      const fs = list.frags;
      fs.sort((x, y) => x.start - y.start); // `ipf_sort` is a stable insertion sort
      let complete = true;
      for (let i = 1; i < fs.length; i++) {
        if (fs[i - 1]!.end + 1 !== fs[i]!.start) {
          complete = false;
          break;
        }
      }
      if (complete) {
        const dg = list.v6 ? reassembleV6(fs) : reassembleV4(fs);
        if (dg) {
          this.datagramFrame = dg;
          this.datagramView.parse(dg);
          copyMd(this.datagramMd, fs[0]!.md);
          this.expList.delete(list);
          next = S_COMPLETED;
        } else {
          next = S_REASS_FAIL;
        }
      }
    }
    list.state = next;
  }

  // ------------------------------------------------------------------ postprocess

  /**
   * `ipf_postprocess_conntrack` for a batch of one, after the tracker ran: copy the tracked
   * datagram's ct fields (`datagramMd`) into its fragments and release them, release completed
   * fragments still queued, then at most one expired list. `v6` is the family of the ct() call
   * (it only chooses which counters the sent fragments count in, as in v3.1.0).
   */
  postprocess(now: number, v6: boolean, out: IpfBatch): void {
    const p = this.pending;
    if (p) {
      // `ipf_post_execute_reass_pkts`
      const dmd = this.datagramMd;
      for (const f of p.frags) {
        copyMd(f.md, dmd);
        if (f.offset !== 0) {
          // miniflow_extract pushes ct_tp_src/dst only beside an L4 header (lib/flow.c).
          f.md.origSport = 0;
          f.md.origDport = 0;
        }
      }
      this.completeList.add(p);
      this.pending = null;
    }
    if (this.completeList.size !== 0) {
      for (const l of this.completeList) {
        if (!this.sendFrags(l, out, false, v6, now)) break;
        this.completeList.delete(l);
        this.lists.delete(l.key);
      }
    }
    if (this.expList.size !== 0) {
      let removed = 0;
      for (const l of this.expList) {
        if (now <= l.expiration || removed >= IPF_FRAG_LIST_MAX_EXPIRED) break;
        if (!this.sendFrags(l, out, true, v6, now)) break;
        this.expList.delete(l);
        this.lists.delete(l.key);
        removed++;
      }
    }
  }

  /** `ipf_send_frags_in_list`: true when the list is done (all sent or purged). */
  private sendFrags(l: IpfList, out: IpfBatch, expired: boolean, v6: boolean, now: number): boolean {
    if (this.purgeCheck(l, now)) return true;
    const c = this.cnt[v6 ? 1 : 0]!;
    const last = l.frags.length - 1;
    while (l.lastSent < last) {
      if (out.room() <= 0) return false;
      const f = l.frags[++l.lastSent]!;
      this.nfrag--;
      if (expired) {
        c[C_EXPD_SENT]!++;
        f.md.state = IPF_EXPIRED_CT_STATE;
      } else {
        c[C_COMPL_SENT]!++;
      }
      out.frags.push(f);
    }
    return true;
  }

  /** `ipf_purge_list_check`. */
  private purgeCheck(l: IpfList, now: number): boolean {
    if (now < l.expiration + IPF_FRAG_LIST_PURGE_TIME_ADJ) return false;
    const c = this.cnt[l.v6 ? 1 : 0]!;
    while (l.lastSent < l.frags.length - 1) {
      l.lastSent++;
      this.nfrag--;
      c[C_PURGED]!++;
    }
    return true;
  }

  /**
   * `ipf_clean_thread_main`: purge every list 10 s past its expiry. OVS runs this on a 60 s
   * wall-clock timer, which a model on packet time cannot reproduce; call it when the harness
   * wants the thread to have run. Returns the number of lists removed.
   */
  runCleaner(now: number): number {
    let n = 0;
    for (const set of [this.expList, this.completeList]) {
      for (const l of set) {
        if (this.purgeCheck(l, now)) {
          set.delete(l);
          this.lists.delete(l.key);
          n++;
        }
      }
    }
    return n;
  }
}

// ---- reassembly ---------------------------------------------------------------------------------

/** Bytes of fragment i ≥ 1 appended to the datagram, or -1 when its range is unusable. */
function addLen(f: Frag): number {
  const n = f.end - f.start + 1;
  return n >= 0 && f.dataOff + n <= f.frame.length ? n : -1;
}

/**
 * `ipf_reassemble_v4_frags`: the first fragment's frame without padding, then the data of the
 * others; total length grown, MF cleared, header checksum recomputed (OVS updates it
 * incrementally; the result verifies the same way). A datagram above 65535 bytes fails. The
 * model also fails (where OVS would misbehave) on ranges that wrapped around 16 bits.
 */
function reassembleV4(fs: Frag[]): Uint8Array | null {
  const f0 = fs[0]!;
  if (!f0.ff || fs.length < 2) return null;
  const b0 = f0.frame;
  const off = f0.l3Off;
  const len = u16(b0, off + 2);
  const rest = fs[fs.length - 1]!.end - fs[1]!.start + 1;
  if (len + rest > IPV4_PACKET_MAX_SIZE || rest < 0) return null;
  const out = new Uint8Array(off + len + rest);
  out.set(b0.subarray(0, off + len));
  let p = off + len;
  for (let i = 1; i < fs.length; i++) {
    const f = fs[i]!;
    const n = addLen(f);
    if (n < 0) return null;
    out.set(f.frame.subarray(f.dataOff, f.dataOff + n), p);
    p += n;
  }
  const tot = len + rest;
  out[off + 2] = tot >> 8;
  out[off + 3] = tot & 255;
  out[off + 6] = out[off + 6]! & ~0x20; // clear MF, keep DF and the reserved bit
  const ihl = (out[off]! & 0x0f) * 4;
  out[off + 10] = 0;
  out[off + 11] = 0;
  const cs = finishChecksum(sum16(out, off, ihl));
  out[off + 10] = cs >> 8;
  out[off + 11] = cs & 255;
  return out;
}

/**
 * `ipf_reassemble_v6_frags`. OVS keeps the fragment header bytes (offset/flags zeroed), points
 * ip6_nxt straight at the L4 protocol and sets ip6_plen 8 bytes short; the tracker reads the L4
 * header from the first fragment's L4 offset with the real length, so only the protocol, the
 * L4 bytes and their length matter. The model builds the equivalent well-formed datagram: the
 * fragment header is removed and the header before it takes its next-header value, so
 * ip6_plen is OVS's value (plen − 8 + rest) and the view parses the datagram directly.
 */
function reassembleV6(fs: Frag[]): Uint8Array | null {
  const f0 = fs[0]!;
  if (!f0.ff || fs.length < 2) return null;
  const b0 = f0.frame;
  const off = f0.l3Off;
  const plen = u16(b0, off + 4);
  const l3End = off + 40 + plen;
  const pl = plen - 8;
  const rest = fs[fs.length - 1]!.end - fs[1]!.start + 1;
  if (pl + rest > IPV6_PACKET_MAX_DATA || rest < 0 || l3End > b0.length) return null;
  // Find the fragment header (the first with a non-zero offset/flags word) and the byte that
  // names it, walking as lib/flow.c `parse_ipv6_ext_hdrs__`.
  let nxtPos = off + 6;
  let nh = b0[nxtPos]!;
  let p = off + 40;
  let fh = -1;
  for (;;) {
    if (nh === 0 || nh === 43 || nh === 60 || nh === 51) {
      if (p + 8 > l3End) return null;
      const hl = nh === 51 ? (b0[p + 1]! + 2) * 4 : (b0[p + 1]! + 1) * 8;
      nxtPos = p;
      nh = b0[p]!;
      p += hl;
    } else if (nh === 44) {
      if (p + 8 > l3End) return null;
      if (u16(b0, p + 2) !== 0) {
        fh = p;
        break;
      }
      nxtPos = p;
      nh = b0[p]!;
      p += 8;
    } else {
      return null;
    }
  }
  const out = new Uint8Array(l3End - 8 + rest);
  out.set(b0.subarray(0, fh));
  out.set(b0.subarray(fh + 8, l3End), fh);
  out[nxtPos] = b0[fh]!;
  let q = l3End - 8;
  for (let i = 1; i < fs.length; i++) {
    const f = fs[i]!;
    const n = addLen(f);
    if (n < 0) return null;
    out.set(f.frame.subarray(f.dataOff, f.dataOff + n), q);
    q += n;
  }
  const npl = pl + rest;
  out[off + 4] = npl >> 8;
  out[off + 5] = npl & 255;
  return out;
}

// ---- conntrack_execute with ipf ----------------------------------------------------------------

/**
 * `conntrack_execute` for a batch of one packet, with ipf around the tracker: what the
 * pipeline calls for each datapath ct() action (see the module comment for how to continue the
 * batch). `recircId` identifies the pass (0 = before any recirculation); `tag` is stored with a
 * held fragment and given back on release. Never throws on any packet.
 */
export function conntrackExecute(
  ct: Conntrack,
  view: PacketView,
  a: CtArgs,
  now: number,
  md: CtMeta,
  recircId: number,
  out: IpfBatch,
  tag = 0,
): void {
  const ipf = ct.ipf;
  out.reset();
  if (view.ctStatus === CT_OK && ipf.idle) {
    ct.execute(view, a, now, md);
    return;
  }
  // Only packets the tracker would refuse can be fragments (view: CT_FRAGMENT or a header
  // error), so trackable packets skip the fragment checks.
  const r = view.ctStatus === CT_OK ? IPF_PASS : ipf.preprocess(view, a.zone, recircId, now, md, tag);
  if (r === IPF_PASS) {
    ct.execute(view, a, now, md);
  } else if (r === IPF_INVALID) {
    ct.writeInvalid(md, a.zone & 0xffff);
  } else {
    out.self = false;
    if (r === IPF_COMPLETE) {
      ct.execute(ipf.datagramView, a, now, ipf.datagramMd);
      out.datagram = ipf.datagramFrame;
    }
  }
  if (!ipf.idle) ipf.postprocess(now, view.l3 === L3_IPV6, out);
}

/** `dpctl/ipf-get-status` text (lib/dpctl.c `dpctl_ct_ipf_get_status`), lists appended with -m. */
export function formatIpfStatus(s: IpfStatus, lists?: readonly string[]): string {
  const fam = (n: string, p: IpfProtoStatus): string[] => [
    `        min ${n} frag size: ${p.minFragSize}`,
    `        ${n} frags accepted: ${p.accepted}`,
    `        ${n} frags completed: ${p.completed}`,
    `        ${n} frags expired: ${p.expired}`,
    `        ${n} frags too small: ${p.tooSmall}`,
    `        ${n} frags overlapped: ${p.overlapped}`,
    `        ${n} frags purged: ${p.purged}`,
  ];
  const lines = [
    '        Fragmentation Module Status',
    '        ---------------------------',
    `        v4 enabled: ${s.v4.enabled ? 1 : 0}`,
    `        v6 enabled: ${s.v6.enabled ? 1 : 0}`,
    `        max num frags (v4/v6): ${s.nfragMax}`,
    `        num frag: ${s.nfrag}`,
    ...fam('v4', s.v4),
    ...fam('v6', s.v6),
  ];
  if (lists) lines.push('', '        Fragment Lists:', '', ...lists);
  return lines.join('\n') + '\n';
}
