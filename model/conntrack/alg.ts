/**
 * Application-level gateways of OVS 3.1 userspace: FTP and TFTP control-packet inspection and
 * the expectations they create (openvswitch/ovs lib/conntrack.c at v3.1.0:
 * `get_alg_ctl_type`, `ct_verify_helper`, `detect_ftp_ctl_type`, `process_ftp_ctl_v4`,
 * `process_ftp_ctl_v6`, `handle_tftp_ctl`, `expectation_create`, `expectation_lookup`,
 * `expectation_clean`; docs/conntrack-semantics.md §8).
 *
 * Without NAT the ALG never changes the packet, so this module only reads payloads and records
 * expectations. Parsing allocates a short string, but only for packets of a control
 * connection that carry an "interesting" message.
 */
import { parseIpv6 } from '../packet/addr.js';
import { IPPROTO_TCP, IPPROTO_UDP, L3_IPV6, type PacketView } from '../packet/view.js';
import { KEY_WORDS, K_DPORT, K_DST, K_META, K_SPORT, K_SRC, keyEq, keyHash } from './key.js';
import type { ConnTable } from './table.js';
import { ALG_FTP, ALG_NONE, ALG_TFTP } from './types.js';

const CT_IPPORT_FTP = 21;
const CT_IPPORT_TFTP = 69;
/** LARGEST_FTP_MSG_OF_INTEREST */
const LARGEST_FTP_MSG = 128;
const MAX_FTP_PORT_DGTS = 3;
const MAX_EXT_FTP_PORT_DGTS = 5;

/**
 * `get_alg_ctl_type`: FTP = TCP with source or destination port 21, TFTP = UDP to port 69. A
 * call that carries `alg=ftp|tftp` compares against the datapath flow's own destination port,
 * i.e. the packet's, so with `alg=` any port is a control port (§8.1).
 */
export function algCtlType(pkt: PacketView, alg: number): number {
  const p = pkt.ipProto;
  if (p === IPPROTO_UDP) {
    if (pkt.dport === CT_IPPORT_TFTP || alg === ALG_TFTP) return ALG_TFTP;
  } else if (p === IPPROTO_TCP) {
    if (pkt.sport === CT_IPPORT_FTP || pkt.dport === CT_IPPORT_FTP || alg === ALG_FTP) return ALG_FTP;
  }
  return ALG_NONE;
}

/** `ct_verify_helper`: the helper recorded on a new entry. */
export function recordedHelper(alg: number, ctl: number): number {
  if (ctl === ALG_NONE) return alg;
  return ctl === alg ? alg : ALG_NONE;
}

/** One expectation (`struct alg_exp_node`). */
interface Expectation {
  /** Key with the source port wildcarded (0). */
  readonly key: Uint32Array;
  readonly hash: number;
  readonly parent: number;
  readonly parentId: number;
  readonly parentKey: Uint32Array;
  readonly mark: number;
  readonly label: Uint32Array;
}

/** Expectations by (zone, L3, proto, src addr, dst addr, dst port); no timer, not consumed. */
export class Expectations {
  private readonly byHash = new Map<number, Expectation[]>();
  size = 0;
  private readonly check = new Uint32Array(KEY_WORDS);

  constructor(private readonly basis: number) {}

  /**
   * `expectation_lookup` for a packet that matched no entry. An expectation whose parent has
   * expired counts as removed (the model's sweeper runs at the expiry instant, §6.2).
   */
  lookup(t: ConnTable, k: Uint32Array, now: number): Expectation | null {
    if (this.size === 0) return null;
    const ck = this.check;
    ck.set(k.subarray(0, KEY_WORDS));
    ck[K_SPORT] = 0;
    const h = keyHash(ck, 0, this.basis);
    const list = this.byHash.get(h);
    if (!list) return null;
    for (const e of list) {
      if (keyEq(e.key, 0, ck, 0) && this.parentAlive(t, e, now)) return e;
    }
    return null;
  }

  private parentAlive(t: ConnTable, e: Expectation, now: number): boolean {
    return t.id[e.parent] === e.parentId && now < t.expiration[e.parent]!;
  }

  /**
   * `expectation_create`: PORT/EPRT from the client (original direction) expects the server →
   * client:port; 227/229 (reply direction) expects client → server:port; TFTP expects
   * server → client's source port. A duplicate key is not added.
   */
  create(t: ConnTable, parent: number, port: number, reply: boolean, now: number): void {
    const pk = t.key;
    const po = parent * KEY_WORDS;
    const key = new Uint32Array(KEY_WORDS);
    key[K_META] = pk[po + K_META]!;
    // reply: src = parent's original source; else src = reply-key source = original destination.
    const srcOff = reply ? K_SRC : K_DST;
    const dstOff = reply ? K_DST : K_SRC;
    for (let i = 0; i < 4; i++) {
      key[K_SRC + i] = pk[po + srcOff + i]!;
      key[K_DST + i] = pk[po + dstOff + i]!;
    }
    key[K_SPORT] = 0;
    key[K_DPORT] = port;
    const h = keyHash(key, 0, this.basis);
    let list = this.byHash.get(h);
    if (list) {
      for (let i = 0; i < list.length; i++) {
        const e = list[i]!;
        if (keyEq(e.key, 0, key, 0)) {
          if (this.parentAlive(t, e, now)) return;
          list.splice(i, 1); // left over from an expired parent: replace it
          this.size--;
          break;
        }
      }
    } else {
      list = [];
      this.byHash.set(h, list);
    }
    list.push({
      key,
      hash: h,
      parent,
      parentId: t.id[parent]!,
      parentKey: pk.slice(po, po + KEY_WORDS),
      mark: t.mark[parent]!,
      label: t.label.slice(parent * 4, parent * 4 + 4),
    });
    this.size++;
  }

  /** `expectation_clean`: drop every expectation of a removed parent. */
  removeByParent(parentId: number): void {
    if (this.size === 0) return;
    for (const [h, list] of this.byHash) {
      for (let i = list.length - 1; i >= 0; i--) {
        if (list[i]!.parentId === parentId) {
          list.splice(i, 1);
          this.size--;
        }
      }
      if (list.length === 0) this.byHash.delete(h);
    }
  }

  clear(): void {
    this.byHash.clear();
    this.size = 0;
  }

  /** For dumps and tests. */
  *entries(): Iterable<{ key: Uint32Array; parentId: number; mark: number; label: Uint32Array }> {
    for (const list of this.byHash.values()) for (const e of list) yield e;
  }
}

export type { Expectation };

// ---- FTP message parsing

function isDigit(c: number): boolean {
  return c >= 0x30 && c <= 0x39;
}
function isXDigit(c: number): boolean {
  return isDigit(c) || (c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66);
}

/** `get_ftp_ctl_msg`: the first min(len, 128) − 1 payload bytes as a C string. */
export function ftpCtlMsg(pkt: PacketView): string {
  const n = Math.min(pkt.payloadLen, LARGEST_FTP_MSG) - 1;
  let s = '';
  const b = pkt.buf;
  for (let i = 0; i < n; i++) {
    const c = b[pkt.payloadOff + i]!;
    if (c === 0) break;
    s += String.fromCharCode(c);
  }
  return s;
}

/** `detect_ftp_ctl_type`: is this an "interesting" message for the family? */
export function ftpInteresting(msg: string, v6: boolean): boolean {
  const up = msg.toUpperCase();
  if (v6) return up.startsWith('EPRT') || up.includes('EXTENDED PASSIVE');
  return up.startsWith('PORT') || up.startsWith('227');
}

/** glibc `inet_pton4`: exactly four decimal octets ≤ 255, no leading zeros, nothing else. */
export function inetPton4(s: string): number {
  const parts = s.split('.');
  if (parts.length !== 4) return -1;
  let v = 0;
  for (const p of parts) {
    if (!/^\d{1,3}$/.test(p) || (p.length > 1 && p[0] === '0')) return -1;
    const n = Number(p);
    if (n > 255) return -1;
    v = v * 256 + n;
  }
  return v >>> 0;
}

/** `terminate_number_str` + `str_to_int`: up to max+1 digits at `i`; -1 when none. */
function leadingNumber(msg: string, i: number, maxDigits: number): { value: number; end: number } {
  let j = i;
  let n = 0;
  while (j < msg.length && isDigit(msg.charCodeAt(j)) && n <= maxDigits) {
    j++;
    n++;
  }
  return { value: j === i ? -1 : Number(msg.slice(i, j)), end: j };
}

/** Result of parsing one interesting message: the data port, or -1 for "invalid format". */
export function parseFtpV4(msg: string, t: ConnTable, c: number): number {
  const active = msg.slice(0, 4).toUpperCase() === 'PORT';
  let i = msg.indexOf(' ', active ? 4 : 3);
  if (i < 0) return -1;
  while (i < msg.length && !isDigit(msg.charCodeAt(i))) i++;
  if (i >= msg.length) return -1;
  const addrStart = i;
  let commas = 0;
  while (commas < 4 && i < msg.length) {
    if (msg.charCodeAt(i) === 0x2c) commas++;
    i++;
  }
  if (commas !== 4) return -1;
  const addr = inetPton4(msg.slice(addrStart, i - 1).replace(/,/g, '.'));
  if (addr < 0) return -1;
  const hi = leadingNumber(msg, i, MAX_FTP_PORT_DGTS);
  if (hi.value < 0 || hi.value > 255) return -1;
  // Skip the one character after the high byte (the C code overwrote it with NUL).
  i = hi.end + 1;
  let j = i;
  while (j < msg.length && isDigit(msg.charCodeAt(j))) j++;
  if (j === i) return -1;
  const lo = Number(msg.slice(i, j));
  if (lo > 255) return -1;
  const port = (hi.value << 8) | lo;
  // Without NAT both accepted addresses collapse to one: the client (PORT) is the original
  // source, the server (227) the original destination.
  const ko = c * KEY_WORDS;
  const want = active ? t.key[ko + K_SRC]! : t.key[ko + K_DST]!;
  if (addr !== want) return -1;
  return port;
}

export function parseFtpV6(msg: string, t: ConnTable, c: number): number {
  let i: number;
  if (msg.slice(0, 4).toUpperCase() === 'EPRT') {
    i = 4;
    while (i < msg.length && !isDigit(msg.charCodeAt(i))) i++;
    if (msg[i] !== '2' || (i + 1 < msg.length && isDigit(msg.charCodeAt(i + 1)))) return -1;
    i += 2; // the "2" and the delimiter
    const start = i;
    while (i < msg.length) {
      const ch = msg.charCodeAt(i);
      if (!(isXDigit(ch) || ch === 0x3a || ch === 0x2e)) break;
      i++;
    }
    let bytes: Uint8Array;
    try {
      bytes = parseIpv6(msg.slice(start, i));
    } catch {
      return -1;
    }
    i++; // past the delimiter
    const ko = c * KEY_WORDS + K_SRC;
    for (let w = 0; w < 4; w++) {
      const word = ((bytes[4 * w]! << 24) | (bytes[4 * w + 1]! << 16) | (bytes[4 * w + 2]! << 8) | bytes[4 * w + 3]!) >>> 0;
      if (word !== t.key[ko + w]) return -1;
    }
  } else {
    i = msg.indexOf('(');
    if (i < 0) i = msg.length;
    while (i < msg.length && !isDigit(msg.charCodeAt(i))) i++;
    if (i >= msg.length) return -1;
  }
  const p = leadingNumber(msg, i, MAX_EXT_FTP_PORT_DGTS);
  if (p.value < 0 || p.value > 65535) return -1;
  return p.value;
}

/**
 * `handle_ftp_ctl` for CT_FTP_CTL_INTEREST without NAT: returns true when the message is
 * interesting but malformed (the caller ORs `inv` into ct_state, §8.2).
 */
export function handleFtpCtl(
  t: ConnTable,
  exps: Expectations,
  c: number,
  pkt: PacketView,
  replyDir: boolean,
  now: number,
): boolean {
  if (pkt.payloadLen <= 1) return false;
  const msg = ftpCtlMsg(pkt);
  const v6 = pkt.l3 === L3_IPV6;
  if (!ftpInteresting(msg, v6)) return false;
  const port = v6 ? parseFtpV6(msg, t, c) : parseFtpV4(msg, t, c);
  if (port < 0) return true;
  exps.create(t, c, port, replyDir, now);
  return false;
}

/** `handle_tftp_ctl`: expect the server → the client's source port. */
export function handleTftpCtl(t: ConnTable, exps: Expectations, c: number, replyDir: boolean, now: number): void {
  exps.create(t, c, t.key[c * KEY_WORDS + K_SPORT]!, replyDir, now);
}
