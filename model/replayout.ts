/**
 * Replay rows as bytes, written as they are produced: the text table (fixed column widths, so
 * no pass over every row is needed to align it) and JSON Lines. One home for the row formats:
 * `formatReplayText` and the CLI both use `RowWriter`, and `replayRowJson` (model/replay.ts)
 * is the object form of the same JSON line (a test holds the two equal).
 *
 * The writer encodes straight into a byte buffer — digits, hex and the cached ct_state names
 * without intermediate strings — and hands the buffer over (`take`) when it is full enough for
 * one write to the output stream. Nothing is allocated per row on the untraced path except
 * what a non-zero ct_label or a comment needs.
 */
import { formatCtState } from './ctstate.js';
import { type CtFields, type CtLookup, PORT_CONTROLLER, type Verdict } from './verdict.js';

/** The per-call detail of a traced row (`--trace`): every ct() call and the readable steps. */
export interface RowCtCall extends CtFields {
  /** Table of a recirculating ct(), -1 for a ct() without table=. */
  table: number;
  line: number;
  depth: number;
}

export interface RowExtra {
  ctCalls?: readonly RowCtCall[] | undefined;
  trace?: readonly string[] | undefined;
  /**
   * Why the target did not process this packet (a runt, an oversize frame): the row shows no
   * ct fields and no outputs, and carries the note (text: after `!`, JSON: `"error"`).
   */
  error?: string | undefined;
}

/** Column widths of the text table; a longer value widens its own line only. */
export const TEXT_COLUMNS: readonly [string, number][] = [
  ['#', 9],
  ['timestamp', 20],
  ['in_port', 7],
  ['ct_state', 15],
  ['ct_zone', 7],
  ['ct_mark', 10],
  ['ct_label', 10],
  ['outputs', 0],
];

const STATE_TEXT: Uint8Array[] = [];
function stateBytes(s: number): Uint8Array {
  if (s >= 0 && s < 256) {
    let b = STATE_TEXT[s];
    if (!b) STATE_TEXT[s] = b = ascii(formatCtState(s));
    return b;
  }
  return ascii(formatCtState(s));
}

function ascii(s: string): Uint8Array {
  return Buffer.from(s, 'utf8');
}

const HEX = ascii('0123456789abcdef');
const NULL_CT = ascii('"ct_state":null,"ct_zone":null,"ct_mark":null,"ct_label":null');
const CONTROLLER = ascii('controller');
const DROP = ascii('drop');
const FLUSH_AT = 1 << 16;
const J_INDEX = ascii('{"index":');
const J_TIMESTAMP = ascii(',"timestamp":"');
const J_TIME_MS = ascii('","time_ms":');
const J_IN_PORT = ascii(',"in_port":');

/** Cached row tails (per writer): enough for every shape a policy produces in practice. */
const MAX_TAILS = 4096;
/** The output part of the last `tailKey` (a second number: the two parts do not fit one). */
let tailOut = 0;

/**
 * Two integers naming the shape of a row's tail (returned: the lookup part; `tailOut`: the
 * outputs), or -1 when it is not cached: at most one lookup (table, state, zone; mark 0, label
 * 0) and at most two outputs (port < 255 or controller, output ct_state or none).
 */
function tailKey(v: Verdict): number {
  const lks = v.lookups;
  let lk = 0;
  if (lks.length === 1) {
    const l = lks[0]!;
    if (l.mark !== 0 || l.label !== 0n || l.table > 255 || l.table < 0 || l.state > 255 || l.zone > 0xffff) return -1;
    lk = 1 + l.table + 256 * (l.state + 256 * l.zone); // < 2^32 + 1
  } else if (lks.length !== 0) return -1;
  const outs = v.outputs;
  const n = outs.length;
  if (n > 2) return -1;
  let out = n;
  for (let i = 0; i < n; i++) {
    const o = outs[i]!;
    const port = o.port === PORT_CONTROLLER ? 255 : o.port;
    if (port > 255 || port < 0) return -1;
    const ct = o.ct ? 1 + (o.ct.state & 0xff) : 0;
    if (o.ct && o.ct.state > 255) return -1;
    out += 3 * (i === 0 ? 1 : 2 ** 17) * (port + 256 * ct);
  }
  tailOut = out;
  return lk;
}

export class RowWriter {
  private buf: Buffer = Buffer.allocUnsafe(FLUSH_AT * 2);
  private spare: Buffer | null = null;
  private len = 0;
  private readonly digits = new Uint8Array(24);
  private secValue = NaN;
  private readonly tails = new Map<number, Map<number, Uint8Array>>();
  private tailCount = 0;
  private secText: Uint8Array = new Uint8Array(0);

  constructor(readonly json: boolean) {}

  /** Bytes waiting to be written. */
  get pending(): number {
    return this.len;
  }

  /** True once enough bytes are buffered for one write. */
  get full(): boolean {
    return this.len >= FLUSH_AT;
  }

  /**
   * The buffered bytes; the writer continues in a fresh buffer (the caller may keep these), or
   * in the memory of a chunk given back with `recycle`.
   */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.len);
    this.buf = this.spare ?? Buffer.allocUnsafe(Math.max(FLUSH_AT * 2, this.buf.length));
    this.spare = null;
    this.len = 0;
    return out;
  }

  /** Gives back a chunk from `take` whose bytes are no longer needed: the next `take` reuses its memory. */
  recycle(chunk: Uint8Array): void {
    const ab = chunk.buffer;
    if (chunk.byteOffset === 0 && ab.byteLength >= FLUSH_AT * 2 && ab !== this.buf.buffer) this.spare = Buffer.from(ab, 0, ab.byteLength);
  }

  /** The text table's header line (no-op for JSON Lines). */
  header(): void {
    if (this.json) return;
    for (let c = 0; c < TEXT_COLUMNS.length; c++) {
      const [name, w] = TEXT_COLUMNS[c]!;
      const start = this.len;
      this.str(name);
      if (c < TEXT_COLUMNS.length - 1) this.cellEnd(start, w);
    }
    this.byte(10);
  }

  /**
   * One packet: 1-based index, capture time (whole seconds + ns), the tracker's virtual time,
   * ingress port, what the target did (`v`: the last lookup's ct fields, outputs) and the
   * traced detail when present.
   */
  row(index: number, sec: number, nsec: number, timeMs: number, inPort: number, v: Verdict | null, extra?: RowExtra): void {
    this.reserve(512);
    if (this.json) this.jsonHead(index, sec, nsec, timeMs, inPort);
    else this.textHead(index, sec, nsec, inPort);
    // The rest of a row depends only on what the target did: most rows repeat a few shapes,
    // so their bytes are cached (rows with trace detail or an error are always written out).
    const key = extra === undefined && v !== null ? tailKey(v) : -1;
    if (key < 0) {
      this.tail(v, extra);
      return;
    }
    const outKey = tailOut;
    const inner = this.tails.get(key);
    const cached = inner?.get(outKey);
    if (cached) {
      this.buf.set(cached, this.len);
      this.len += cached.length;
      return;
    }
    const start = this.len;
    this.tail(v, extra);
    if (this.tailCount < MAX_TAILS) {
      this.tailCount++;
      const m = inner ?? new Map<number, Uint8Array>();
      if (!inner) this.tails.set(key, m);
      // A copy (Buffer#slice would be a view of memory that later rows overwrite).
      m.set(outKey, Uint8Array.prototype.slice.call(this.buf, start, this.len));
    }
  }

  private tail(v: Verdict | null, extra: RowExtra | undefined): void {
    if (this.json) this.jsonTail(v, extra);
    else this.textTail(v, extra);
  }

  // ------------------------------------------------------------------ text

  private textHead(index: number, sec: number, nsec: number, inPort: number): void {
    let start = this.len;
    this.int(index);
    this.cellEnd(start, 9);
    start = this.len;
    this.timestamp(sec, nsec);
    this.cellEnd(start, 20);
    start = this.len;
    this.int(inPort);
    this.cellEnd(start, 7);
  }

  private textTail(v: Verdict | null, extra?: RowExtra): void {
    const err = extra?.error;
    const lk = v && err === undefined && v.lookups.length ? v.lookups[v.lookups.length - 1]! : null;
    let start = this.len;
    if (lk) this.raw(stateBytes(lk.state));
    else this.byte(45);
    this.cellEnd(start, 15);
    start = this.len;
    if (lk) this.int(lk.zone);
    else this.byte(45);
    this.cellEnd(start, 7);
    start = this.len;
    if (lk) this.hex32(lk.mark);
    else this.byte(45);
    this.cellEnd(start, 10);
    start = this.len;
    if (lk) this.label(lk.label);
    else this.byte(45);
    this.cellEnd(start, 10);
    if (err !== undefined) {
      this.str('-  ! ');
      this.str(err);
    } else if (!v || v.outputs.length === 0) {
      this.raw(DROP);
    } else {
      const outs = v.outputs;
      for (let i = 0; i < outs.length; i++) {
        if (i) this.byte(44);
        this.port(outs[i]!.port);
      }
    }
    this.byte(10);
    const trace = extra?.trace;
    if (trace) {
      for (const t of trace) {
        this.reserve(t.length * 3 + 8);
        this.str('    ');
        this.str(t);
        this.byte(10);
      }
    }
  }

  /** Pads the cell begun at `start` to `w` and adds the two-space column gap. */
  private cellEnd(start: number, w: number): void {
    let n = w - (this.len - start);
    while (n-- > 0) this.buf[this.len++] = 32;
    this.buf[this.len++] = 32;
    this.buf[this.len++] = 32;
  }

  // ------------------------------------------------------------------ JSON Lines

  private jsonHead(index: number, sec: number, nsec: number, timeMs: number, inPort: number): void {
    this.raw(J_INDEX);
    this.int(index);
    this.raw(J_TIMESTAMP);
    this.timestamp(sec, nsec);
    this.raw(J_TIME_MS);
    this.int(timeMs);
    this.raw(J_IN_PORT);
    this.int(inPort);
  }

  private jsonTail(v: Verdict | null, extra?: RowExtra): void {
    const err = extra?.error;
    const lk = v && err === undefined && v.lookups.length ? v.lookups[v.lookups.length - 1]! : null;
    this.byte(44);
    if (lk) this.ctJson(lk);
    else this.raw(NULL_CT);
    this.str(',"outputs":[');
    if (v && err === undefined) {
      const outs = v.outputs;
      for (let i = 0; i < outs.length; i++) {
        const o = outs[i]!;
        this.reserve(96);
        if (i) this.byte(44);
        this.str('{"port":"');
        this.port(o.port);
        this.byte(34);
        if (o.ct) {
          this.str(',"ct_state":"');
          this.raw(stateBytes(o.ct.state));
          this.byte(34);
        }
        this.byte(125);
      }
    }
    this.str('],"lookups":[');
    if (v && err === undefined) {
      const lks = v.lookups;
      for (let i = 0; i < lks.length; i++) {
        const l = lks[i]!;
        this.reserve(160);
        if (i) this.byte(44);
        this.str('{"table":');
        this.int(l.table);
        this.byte(44);
        this.ctJson(l);
        this.byte(125);
      }
    }
    this.byte(93);
    const calls = extra?.ctCalls;
    if (calls && err === undefined) {
      this.str(',"ct_calls":[');
      for (let i = 0; i < calls.length; i++) {
        const c = calls[i]!;
        this.reserve(200);
        if (i) this.byte(44);
        this.str('{"table":');
        if (c.table < 0) this.str('null');
        else this.int(c.table);
        this.str(',"line":');
        this.int(c.line);
        this.str(',"depth":');
        this.int(c.depth);
        this.byte(44);
        this.ctJson(c);
        this.byte(125);
      }
      this.byte(93);
    }
    const trace = extra?.trace;
    if (trace && err === undefined) {
      this.str(',"trace":');
      this.utf8(JSON.stringify(trace));
    }
    if (err !== undefined) {
      this.str(',"error":');
      this.utf8(JSON.stringify(err));
    }
    this.byte(125);
    this.byte(10);
  }

  /** `"ct_state":"…","ct_state_bits":N,"ct_zone":N,"ct_mark":"0x…","ct_label":"0x…"` */
  private ctJson(f: CtFields | CtLookup): void {
    this.str('"ct_state":"');
    this.raw(stateBytes(f.state));
    this.str('","ct_state_bits":');
    this.int(f.state);
    this.str(',"ct_zone":');
    this.int(f.zone);
    this.str(',"ct_mark":"');
    this.hex32(f.mark);
    this.str('","ct_label":"');
    this.label(f.label);
    this.byte(34);
  }

  // ------------------------------------------------------------------ primitives

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const b = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(b, 0, 0, this.len);
    this.buf = b;
  }

  private byte(c: number): void {
    this.buf[this.len++] = c;
  }

  private raw(b: Uint8Array): void {
    this.reserve(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  /** An ASCII string (the writer's own literals and numbers' text). */
  private str(s: string): void {
    const n = s.length;
    this.reserve(n * 3);
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 127) {
        this.len += this.buf.write(s.slice(i), this.len, 'utf8');
        return;
      }
      this.buf[this.len++] = c;
    }
  }

  private utf8(s: string): void {
    this.reserve(s.length * 3);
    this.len += this.buf.write(s, this.len, 'utf8');
  }

  /** A non-negative integer (or any other number through its string form). */
  private int(n: number): void {
    if (!(n >= 0 && n <= 0xffffffffffff && Number.isInteger(n))) {
      this.str(String(n));
      return;
    }
    if (n < 10) {
      this.buf[this.len++] = 48 + n;
      return;
    }
    const d = this.digits;
    let i = d.length;
    while (n > 0x7fffffff) {
      const q = Math.floor(n / 10);
      d[--i] = 48 + (n - q * 10);
      n = q;
    }
    let m = n | 0;
    while (m > 0) {
      const q = (m / 10) | 0;
      d[--i] = 48 + m - q * 10;
      m = q;
    }
    while (i < d.length) this.buf[this.len++] = d[i++]!;
  }

  /** `0x…` of a 32-bit unsigned value. */
  private hex32(v: number): void {
    this.buf[this.len++] = 48;
    this.buf[this.len++] = 120;
    v >>>= 0;
    if (v === 0) {
      this.buf[this.len++] = 48;
      return;
    }
    let shift = 28;
    while (((v >>> shift) & 15) === 0) shift -= 4;
    for (; shift >= 0; shift -= 4) this.buf[this.len++] = HEX[(v >>> shift) & 15]!;
  }

  private label(l: bigint): void {
    if (l === 0n) {
      this.buf[this.len++] = 48;
      this.buf[this.len++] = 120;
      this.buf[this.len++] = 48;
    } else this.str(`0x${l.toString(16)}`);
  }

  private port(p: number): void {
    if (p === PORT_CONTROLLER) this.raw(CONTROLLER);
    else this.int(p);
  }

  /** `1700000000.123456789` (seconds may be negative with a pcapng if_tsoffset). */
  private timestamp(sec: number, nsec: number): void {
    if (sec < 0) {
      const ns = BigInt(sec) * 1_000_000_000n + BigInt(nsec);
      const a = ns < 0n ? -ns : ns;
      this.str(`${ns < 0n ? '-' : ''}${a / 1_000_000_000n}.${(a % 1_000_000_000n).toString().padStart(9, '0')}`);
      return;
    }
    // Seconds change rarely from one packet to the next: their digits are kept.
    if (sec !== this.secValue) {
      this.secValue = sec;
      this.secText = ascii(`${sec}.`);
    }
    this.raw(this.secText);
    // nsec < 1e9 < 2^31: integer arithmetic.
    const b = this.buf;
    let at = this.len + 9;
    this.len = at;
    let v = nsec | 0;
    for (let i = 0; i < 9; i++) {
      const q = (v / 10) | 0;
      b[--at] = 48 + v - q * 10;
      v = q;
    }
  }
}

/** Port name as rows print it: `controller` or the number. */
export function portName(p: number): string {
  return p === PORT_CONTROLLER ? 'controller' : String(p);
}
