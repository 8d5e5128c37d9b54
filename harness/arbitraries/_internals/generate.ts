/**
 * Realistic scenario generation from fast-check's Random: each flow follows a template of its
 * protocol (TCP open / body / close / reuse, UDP request-response, echo, TFTP transfer, FTP
 * session with its data connection) with anomalies sprinkled in as the options allow. Only the
 * resulting flat event lists are kept in the Scenario, so shrinking can drop any event.
 */
import type { Random } from 'fast-check';
import type {
  Corruption,
  Dir,
  Family,
  Flow,
  FtpFlow,
  HeaderShape,
  IcmpErrorEvent,
  IcmpEvent,
  NoiseEvent,
  Scenario,
  Side,
  TcpEvent,
  TcpFlow,
  TcpParams,
  TftpEvent,
  UdpEvent,
} from '../types.js';
import { CLIENT_PORTS, pairCount, STRAY } from './addresses.js';
import { FTP_CHATTER as C } from './ftp.js';
import type { ResolvedOptions } from './options.js';

/** Convenience wrapper over fast-check's Random (all draws go through it: replayable). */
export class Gen {
  constructor(private readonly r: Random) {}
  int(min: number, max: number): number {
    return max <= min ? min : this.r.nextInt(min, max);
  }
  u32(): number {
    return this.r.nextInt(0, 0xffff) * 0x10000 + this.r.nextInt(0, 0xffff);
  }
  bool(p = 0.5): boolean {
    return this.r.nextDouble() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(0, xs.length - 1)]!;
  }
  weighted<T>(xs: readonly (readonly [number, T])[]): T {
    const total = xs.reduce((s, [w]) => s + w, 0);
    let x = this.r.nextDouble() * total;
    for (const [w, v] of xs) {
      if (x < w) return v;
      x -= w;
    }
    return xs[xs.length - 1]![1];
  }
}

/** Omit distributed over a union (plain Omit collapses the union's variants). */
type NoGap<T> = T extends unknown ? Omit<T, 'gap'> : never;

const flip = (d: Dir): Dir => (d === 'orig' ? 'reply' : 'orig');

/** §4.2 invalid combinations, and two valid but unusual ones. */
const INVALID_FLAGS = [0x03, 0x06, 0x00, 0x01, 0x0a, 0x20, 0x0c, 0x29];
const UNUSUAL_FLAGS = [0xc2, 0x14];

export class ScenarioGen {
  constructor(
    private readonly g: Gen,
    private readonly o: ResolvedOptions,
  ) {}

  /** A gap: mostly short, sometimes across a timeout, within ±jitter of it (§6.2 boundaries). */
  gap(): number {
    const g = this.g;
    if (this.o.timeoutsMs.length > 0 && g.bool(this.o.longGapRate)) {
      return Math.max(0, g.pick(this.o.timeoutsMs) + g.int(-this.o.jitter, this.o.jitter));
    }
    return g.weighted([
      [3, 0],
      [5, g.int(1, 10)],
      [2, g.int(0, this.o.shortGapMax)],
    ]);
  }

  private family(): Family {
    return this.o.kinds.ipv6 && this.g.bool(0.3) ? 6 : 4;
  }

  private base(family: Family): { family: Family; pair: number; origin: Side; client: number; server: number; start: number } {
    const g = this.g;
    return {
      family,
      pair: g.int(0, pairCount(this.o.ports) - 1),
      origin: g.bool(this.o.outsideOrigin) ? 'outside' : 'inside',
      client: this.host(),
      server: this.host(),
      start: g.bool(0.15) ? this.gap() : g.int(0, 1000),
    };
  }

  /** A pool host; now and then the stray host outside every prefix (the prefix bits vary too). */
  private host(): number {
    return this.g.bool(0.05) ? STRAY : this.g.int(0, this.o.hosts - 1);
  }

  /**
   * The header shape of a flow (issue 16, every parser path of the program): mostly plain;
   * sometimes one VLAN tag, two (802.1Q in 802.1Q, or in an outer 802.1ad tag), IPv4 options, or
   * an IPv6 extension header (not on flows with ICMP errors: the quoted packet would carry it).
   */
  shape(f: Flow): HeaderShape | undefined {
    const g = this.g;
    const sh: HeaderShape = {};
    const tag = (tpid: 0x8100 | 0x88a8): { tpid: 0x8100 | 0x88a8; vid: number; pcp: number } => ({ tpid, vid: g.int(1, 4094), pcp: g.int(0, 7) });
    const tags = g.weighted([
      [14, 0],
      [3, 1],
      [this.o.kinds.doubleVlan ? 1 : 0, 2],
      [this.o.kinds.doubleVlan ? 1 : 0, 3],
    ] as const);
    if (tags === 1) sh.vlan = [tag(g.bool(0.25) ? 0x88a8 : 0x8100)];
    else if (tags === 2) sh.vlan = [tag(0x88a8), tag(0x8100)];
    else if (tags === 3) sh.vlan = [tag(0x8100), tag(0x8100)];
    const hasIcmpError = (f.events as { kind: string }[]).some((e) => e.kind === 'icmpError');
    if (f.family === 4 && g.bool(0.1)) sh.ipOptions = g.pick([4, 8, 40]);
    if (f.family === 6 && !hasIcmpError && g.bool(0.2)) sh.ext = g.pick(['hbh', 'dstopt', 'routing', 'ah'] as const);
    return Object.keys(sh).length ? sh : undefined;
  }

  private clientPort(): number {
    return this.g.bool(0.7) ? this.g.pick(CLIENT_PORTS) : this.g.int(1025, 65535);
  }

  tcpParams(family: Family): TcpParams {
    const g = this.g;
    const isn = (): number => (g.bool(0.1) ? 0xffffffff - g.int(0, 3000) : g.u32()); // near wrap sometimes
    const ws = (): number | null => (g.bool(0.6) ? g.pick([0, 1, 2, 7, 8, 14]) : null);
    const mss = (): number | null => (g.bool(0.85) ? g.pick(family === 4 ? [536, 1200, 1460] : [1220, 1440]) : null);
    const win = (): number => g.pick([8192, 29200, 65535, 131072, 262144, 1 << 20]);
    return { isn: [isn(), isn()], win: [win(), win()], wscale: [ws(), ws()], mss: [mss(), mss()], sackOk: [g.bool(0.7), g.bool(0.7)] };
  }

  corruption(): Corruption {
    const g = this.g;
    return g.weighted<Corruption>([
      [2, { op: 'ipChecksum' }],
      [2, { op: 'l4Checksum' }],
      [1, { op: 'zeroPort' }],
      [2, { op: 'truncate', bytes: g.int(1, 40) }],
      [1, { op: 'badIhl' }],
      [1, { op: 'fragment' }],
      [this.o.kinds.headerShapes ? 1 : 0, { op: 'laterFragment' }],
      [this.o.kinds.headerShapes ? 1 : 0, { op: 'tinyIhl', ihl: g.int(0, 3) }],
    ]);
  }

  icmpError(dir: Dir): Omit<IcmpErrorEvent, 'gap'> {
    const g = this.g;
    const m = this.o.kinds.malformed;
    return {
      dir,
      kind: 'icmpError',
      type: g.weighted([
        [3, 'unreach'],
        [2, 'timeExceeded'],
        [1, 'tooBig'],
      ] as const),
      from: g.bool(0.5) ? 'host' : 'router',
      variant: g.weighted([
        [5, 'ok'],
        [2, 'noFlow'],
        [m ? 1 : 0, 'badSource'],
        [m ? 1 : 0, 'short'],
      ] as const),
      full: g.bool(0.3),
    };
  }

  private dataLen(): number {
    return this.g.weighted([
      [1, 1],
      [5, this.g.int(1, 120)],
      [2, this.g.int(120, 1460)],
    ]);
  }

  private withGaps<T>(evs: NoGap<T>[]): T[] {
    return evs.map((e) => ({ ...e, gap: this.gap() }) as T);
  }

  /** Events of one TCP session (open, body, close), plus sometimes a reuse of the same tuple. */
  tcpSession(reuse = true, reverseOpen = false): NoGap<TcpEvent>[] {
    const g = this.g;
    const k = this.o.kinds;
    const o: Dir = reverseOpen ? 'reply' : 'orig';
    const r: Dir = flip(o);
    const ev: NoGap<TcpEvent>[] = [];
    const open = g.weighted([
      [6, 'normal'],
      [1, 'synRetransmit'],
      [1, 'simultaneous'],
      [reverseOpen ? 0 : 1, 'midstream'],
    ] as const);
    if (open === 'normal') ev.push({ dir: o, kind: 'syn' }, { dir: r, kind: 'synack' }, { dir: o, kind: 'ack' });
    else if (open === 'synRetransmit') ev.push({ dir: o, kind: 'syn' }, { dir: o, kind: 'retransmit', back: 0 }, { dir: r, kind: 'synack' }, { dir: o, kind: 'ack' });
    else if (open === 'simultaneous') ev.push({ dir: o, kind: 'syn' }, { dir: r, kind: 'syn' }, { dir: o, kind: 'synack' }, { dir: r, kind: 'synack' });
    const n = g.int(this.o.eventsMin, this.o.eventsMax);
    for (let j = 0; j < n; j++) {
      const d: Dir = g.bool(0.55) ? 'orig' : 'reply';
      ev.push({ dir: d, kind: 'data', len: this.dataLen() });
      if (g.bool(0.7)) ev.push({ dir: flip(d), kind: 'ack' });
      if (k.tcpAnomalies && g.bool(0.25)) {
        const a = g.weighted([
          [3, 'retransmit'],
          [2, 'reorder'],
          [2, 'oow'],
          [1, 'rstInexact'],
        ] as const);
        const ad: Dir = g.bool() ? 'orig' : 'reply';
        if (a === 'retransmit') ev.push({ dir: ad, kind: 'retransmit', back: g.int(0, 2) });
        else if (a === 'reorder') ev.push({ dir: ad, kind: 'reorder', lens: [this.dataLen(), this.dataLen()] });
        else if (a === 'oow') {
          const mag = g.int(1 << 21, 1 << 28);
          ev.push({ dir: ad, kind: 'oow', seqDelta: g.bool() ? mag : -mag, ackDelta: g.bool(0.7) ? 0 : g.pick([-1, 1]) * g.int(70000, 1 << 20), len: g.int(0, 100) });
        } else ev.push({ dir: ad, kind: 'rst', seqDelta: g.pick([-2, 2, 1000, -100000, 1 << 24]), ack: g.bool() });
      }
      if (k.malformed && g.bool(0.1)) {
        if (g.bool()) ev.push({ dir: d, kind: 'flags', flags: g.bool(0.8) ? g.pick(INVALID_FLAGS) : g.pick(UNUSUAL_FLAGS) });
        else ev.push({ dir: d, kind: 'data', len: this.dataLen(), bad: this.corruption() });
      }
      if (k.icmpErrors && g.bool(0.1)) ev.push(this.icmpError(g.bool() ? 'orig' : 'reply'));
    }
    const close = g.weighted([
      [3, 'finOrig'],
      [2, 'finReply'],
      [1, 'finBoth'],
      [2, 'rst'],
      [2, 'none'],
    ] as const);
    if (close === 'finOrig' || close === 'finReply') {
      const a: Dir = close === 'finOrig' ? 'orig' : 'reply';
      ev.push({ dir: a, kind: 'fin' }, { dir: flip(a), kind: 'ack' }, { dir: flip(a), kind: 'fin' }, { dir: a, kind: 'ack' });
    } else if (close === 'finBoth') {
      ev.push({ dir: 'orig', kind: 'fin' }, { dir: 'reply', kind: 'fin' }, { dir: 'orig', kind: 'ack' }, { dir: 'reply', kind: 'ack' });
    } else if (close === 'rst') {
      ev.push({ dir: g.bool(0.6) ? 'orig' : 'reply', kind: 'rst', seqDelta: 0, ack: g.bool() });
    }
    if (reuse && close !== 'none' && g.bool(0.25)) ev.push(...this.tcpSession(false, g.bool(0.2)));
    return ev;
  }

  tcpFlow(): TcpFlow {
    const fam = this.family();
    return {
      proto: 'tcp',
      ...this.base(fam),
      sport: this.clientPort(),
      dport: this.g.pick(this.o.tcpServerPorts),
      tcp: this.tcpParams(fam),
      events: this.withGaps<TcpEvent>(this.tcpSession()),
    };
  }

  /** An FTP session (§8): login, PORT/EPRT or PASV→227/229, one data transfer, quit. */
  ftpFlow(): FtpFlow {
    const g = this.g;
    const fam = this.family();
    const base = this.base(fam);
    const mode = g.bool() ? 'active' : 'passive';
    const announcerIdx = mode === 'active' ? base.client : base.server;
    const hosts = Math.max(2, this.o.hosts);
    // A 229 reply names no address (RFC 2428 3), so a wrong address exists only elsewhere.
    const wrongHost = !(mode === 'passive' && fam === 6) && g.bool(0.15) ? (announcerIdx + 1 + g.int(0, hosts - 2)) % hosts : null;
    const txt = (dir: Dir, text: string): NoGap<TcpEvent> => ({ dir, kind: 'data', len: text.length, text });
    const ev: NoGap<TcpEvent>[] = [{ dir: 'orig', kind: 'syn' }, { dir: 'reply', kind: 'synack' }, { dir: 'orig', kind: 'ack' }];
    ev.push(txt('reply', C.banner));
    if (g.bool(0.5)) ev.push(txt('orig', C.user), txt('reply', C.pass331), txt('orig', C.pass), txt('reply', C.login230));
    // The data connection: in active mode the server connects (data 'orig' = server), in
    // passive mode the client does; the file flows from the server in both (RETR).
    const fileDir: Dir = mode === 'active' ? 'orig' : 'reply';
    const dataEvents: NoGap<TcpEvent>[] = [
      { dir: 'orig', kind: 'syn', conn: 'data' },
      { dir: 'reply', kind: 'synack', conn: 'data' },
      { dir: 'orig', kind: 'ack', conn: 'data' },
    ];
    for (let j = g.int(1, 3); j > 0; j--) dataEvents.push({ dir: fileDir, kind: 'data', len: this.dataLen(), conn: 'data' }, { dir: flip(fileDir), kind: 'ack', conn: 'data' });
    dataEvents.push(
      { dir: fileDir, kind: 'fin', conn: 'data' },
      { dir: flip(fileDir), kind: 'ack', conn: 'data' },
      { dir: flip(fileDir), kind: 'fin', conn: 'data' },
      { dir: fileDir, kind: 'ack', conn: 'data' },
    );
    if (mode === 'active') {
      ev.push({ dir: 'orig', kind: 'announce' }, txt('reply', C.portOk), txt('orig', C.retr));
      ev.push(...dataEvents.slice(0, 3), txt('reply', C.opening150), ...dataEvents.slice(3));
    } else {
      ev.push(txt('orig', fam === 4 ? C.pasv : C.epsv), { dir: 'reply', kind: 'announce' }, txt('orig', C.retr));
      ev.push(...dataEvents.slice(0, 3), txt('reply', C.opening150), ...dataEvents.slice(3));
    }
    ev.push(txt('reply', C.done226), txt('orig', C.quit), txt('reply', C.bye221));
    ev.push({ dir: 'reply', kind: 'fin' }, { dir: 'orig', kind: 'ack' }, { dir: 'orig', kind: 'fin' }, { dir: 'reply', kind: 'ack' });
    return {
      proto: 'ftp',
      ...base,
      sport: this.clientPort(),
      tcp: this.tcpParams(fam),
      ftp: {
        mode,
        port: g.bool(0.5) ? g.pick([50000, 50001]) : g.int(1024, 65535),
        dataSport: mode === 'active' ? 20 : g.int(40100, 40200),
        wrongHost,
        data: this.tcpParams(fam),
      },
      events: this.withGaps<TcpEvent>(ev),
    };
  }

  private maybeBad<T extends object>(e: T): T {
    return this.o.kinds.malformed && this.g.bool(0.08) ? { ...e, bad: this.corruption() } : e;
  }

  udpFlow(): Flow {
    const g = this.g;
    const fam = this.family();
    const ev: NoGap<UdpEvent>[] = [];
    const n = 1 + g.int(this.o.eventsMin, this.o.eventsMax);
    for (let j = 0; j < n; j++) {
      const dir: Dir = j === 0 || g.bool(0.5) ? 'orig' : 'reply';
      ev.push(this.maybeBad({ dir, kind: 'dgram', len: g.int(0, 200), ...(fam === 4 && g.bool(0.1) ? { noChecksum: true } : {}) }));
      if (this.o.kinds.icmpErrors && g.bool(0.15)) ev.push(this.icmpError(dir));
    }
    return { proto: 'udp', ...this.base(fam), sport: this.clientPort(), dport: g.pick(this.o.udpServerPorts), events: this.withGaps<UdpEvent>(ev) };
  }

  icmpFlow(): Flow {
    const g = this.g;
    const fam = this.family();
    const ev: NoGap<IcmpEvent>[] = [];
    const n = 1 + g.int(this.o.eventsMin, this.o.eventsMax);
    let seq = g.int(0, 3);
    for (let j = 0; j < n; j++, seq++) {
      ev.push(this.maybeBad({ dir: 'orig', kind: 'echo', seq, len: g.int(0, 64) }));
      if (g.bool(0.8)) ev.push(this.maybeBad({ dir: 'reply', kind: 'echo', seq, len: g.int(0, 64) }));
      if (this.o.kinds.icmpErrors && g.bool(0.1)) ev.push(this.icmpError('orig'));
    }
    return { proto: 'icmp', ...this.base(fam), id: g.bool(0.5) ? g.int(1, 3) : g.int(0, 0xffff), events: this.withGaps<IcmpEvent>(ev) };
  }

  tftpFlow(): Flow {
    const g = this.g;
    const fam = this.family();
    const ev: NoGap<TftpEvent>[] = [{ dir: 'orig', kind: 'rrq' }];
    if (this.o.kinds.icmpErrors && g.bool(0.15)) ev.push(this.icmpError('orig'));
    else {
      const blocks = g.int(1, 3);
      for (let b = 1; b <= blocks; b++) {
        ev.push({ dir: 'reply', kind: 'tftpData', block: b, len: b < blocks ? 512 : g.int(0, 511) }, { dir: 'orig', kind: 'tftpAck', block: b });
      }
    }
    return { proto: 'tftp', ...this.base(fam), sport: this.clientPort(), tid: g.int(1024, 65535), events: this.withGaps<TftpEvent>(ev) };
  }

  noiseFlow(): Flow {
    const g = this.g;
    const ev: NoGap<NoiseEvent>[] = [];
    const k = this.o.kinds;
    const kind = (): NoiseEvent['kind'] =>
      g.weighted([
        [3, 'arp'],
        [1, 'runt'],
        [1, 'badVersion'],
        [k.headerShapes ? 1 : 0, 'otherProto'],
      ] as const);
    for (let j = g.int(1, 3); j > 0; j--) ev.push({ dir: g.bool() ? 'orig' : 'reply', kind: kind() });
    return { proto: 'noise', ...this.base(this.family()), events: this.withGaps<NoiseEvent>(ev) };
  }

  flow(): Flow {
    const f = this.flowOfKind();
    if (this.o.kinds.headerShapes) {
      const sh = this.shape(f);
      if (sh) f.shape = sh;
    }
    return f;
  }

  private flowOfKind(): Flow {
    const k = this.o.kinds;
    const kind = this.g.weighted([
      [k.tcp ? 5 : 0, 'tcp'],
      [k.udp ? 2 : 0, 'udp'],
      [k.icmp ? 1 : 0, 'icmp'],
      [k.ftp ? 1 : 0, 'ftp'],
      [k.tftp ? 1 : 0, 'tftp'],
      [k.malformed ? 1 : 0, 'noise'],
    ] as const);
    switch (kind) {
      case 'tcp':
        return this.tcpFlow();
      case 'udp':
        return this.udpFlow();
      case 'icmp':
        return this.icmpFlow();
      case 'ftp':
        return this.ftpFlow();
      case 'tftp':
        return this.tftpFlow();
      default:
        return this.noiseFlow();
    }
  }

  scenario(small: boolean): Scenario {
    const n = small ? this.o.flowsMin : this.g.int(this.o.flowsMin, this.o.flowsMax);
    const flows: Flow[] = [];
    for (let i = 0; i < n; i++) flows.push(this.flow());
    const p = this.o.pools;
    const addrs = { inside: { ...p.inside }, outside: { ...p.outside } };
    return { v: 1, ports: { inside: [...this.o.ports.inside], outside: [...this.o.ports.outside] }, addrs, flows };
  }
}
