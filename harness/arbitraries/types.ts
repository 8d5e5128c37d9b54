/**
 * The Scenario: a small, typed, JSON-serialisable description of traffic that the traffic
 * arbitraries generate and shrink, and that `renderScenario` turns into a Trace (docs/architecture.md
 * "Trace"). Keeping the Scenario (not the bytes) as the generated value is what makes shrinking
 * produce a minimal trace: fast-check removes flows and events and simplifies numbers, and the
 * renderer rebuilds correct sequence/ack numbers, checksums and lengths for whatever is left
 * (docs/style.md §3: the generator knows how to shrink; every failure replays from the Scenario).
 *
 * Conventions:
 *  - A flow has a client (the originator, the side that sends the first packet of the intended
 *    session) and a server. `dir: 'orig'` = client → server, `'reply'` = server → client.
 *  - Hosts are indices into small address pools (see _internals/addresses.ts), so flows collide
 *    and reuse tuples now and then; `pair` picks an (inside, outside) port pair of the PortMap and
 *    `origin` says on which side of that pair the client sits.
 *  - Times: a flow starts at `start` ms; each event comes `gap` ms after the previous event of
 *    the same flow. Flows are merged by time (ties: lower flow index first), so trace time is
 *    monotonic by construction.
 *  - `bad` on an event renders a broken copy of the packet the event would send and leaves the
 *    endpoint state untouched (the receiver drops it; the sender's next event is unaffected).
 */

export type Dir = 'orig' | 'reply';
export type Family = 4 | 6;
export type Side = 'inside' | 'outside';

/** Which in_port each side of a zone pair uses: pair k = (inside[k], outside[k]). */
export interface PortMap {
  inside: number[];
  outside: number[];
}

/**
 * CIDR prefixes of the address pools per side and family (`10.0.0.0/8`, `fd00::/16`); see
 * _internals/addresses.ts for how host k of a pool is laid out (issue 16: every key bit varies).
 */
export interface AddressPools {
  inside: { v4: string; v6: string };
  outside: { v4: string; v6: string };
}

/**
 * Link-layer and IP header shape of every packet of a flow (the parser paths of the generated
 * program, docs/offload-design.md §3): VLAN tags (outer first, TPID 0x8100, or 0x88a8 for an
 * outer 802.1ad tag), IPv4 options (`ipOptions` bytes of NOPs ending in EOL: IHL > 5) and an
 * IPv6 extension header before L4 (`ext`; the hardware does not walk them and punts).
 */
export interface HeaderShape {
  /** `pcp` 0–7 (802.1p priority) defaults to 0. */
  vlan?: { vid: number; tpid: 0x8100 | 0x88a8; pcp?: number }[];
  ipOptions?: number;
  /** `ah`: an Authentication Header (RFC 4302) with a 4-byte ICV. */
  ext?: 'hbh' | 'dstopt' | 'routing' | 'ah';
}

/** A deliberate defect applied to the frame of one event (docs/conntrack-semantics.md §3). */
export type Corruption =
  | { op: 'ipChecksum' } // IPv4 header checksum; for IPv6 (no header checksum) the L4 checksum
  | { op: 'l4Checksum' }
  | { op: 'zeroPort' } // TCP/UDP source port 0 (ICMP flows: L4 checksum instead)
  | { op: 'truncate'; bytes: number } // cut `bytes` (≥ 1) from the end of the IP datagram
  | { op: 'badIhl' } // IPv4 IHL = 4; IPv6: payload length 8 bytes beyond the frame
  /**
   * Sent as a first fragment (IPv4 MF, IPv6 Fragment header with M): far below the 1200/1280-byte
   * minimum of a non-final fragment, so OVS reports it inv|trk and passes it on (§3.4).
   */
  | { op: 'fragment' }
  /** IPv4: a later fragment (offset ≠ 0, MF clear); IPv6: a Fragment header with offset ≠ 0. */
  | { op: 'laterFragment' }
  /** IPv4: IHL below 4 (0–3); IPv6: as badIhl. */
  | { op: 'tinyIhl'; ihl: number };

interface EventBase {
  /** Milliseconds after the previous event of the same flow (or after the flow's start). */
  gap: number;
  dir: Dir;
  bad?: Corruption;
}

/** An ICMP/ICMPv6 error about the last packet the flow sent in `dir` (docs/conntrack-semantics.md §5.3). */
export interface IcmpErrorEvent extends EventBase {
  kind: 'icmpError';
  type: 'unreach' | 'timeExceeded' | 'tooBig';
  /** 'host' = the offending packet's destination answers; 'router' = a router on its side. */
  from: 'host' | 'router';
  /**
   * 'ok' embeds the packet as sent; 'noFlow' changes its source port (ICMP: id) so it names no
   * tracked flow; 'badSource' makes the embedded source differ from the outer destination;
   * 'short' embeds one byte less than the tracker needs (v4: 8 L4 bytes, v6: full L4 header).
   */
  variant: 'ok' | 'noFlow' | 'badSource' | 'short';
  /** Embed the whole offending packet (up to 548 / 1232 bytes) instead of the minimum. */
  full: boolean;
}

export type TcpEvent = EventBase & { conn?: 'data' } & (
    | { kind: 'syn' }
    | { kind: 'synack' }
    | { kind: 'ack' }
    | { kind: 'data'; len: number; text?: string }
    /** FTP control only: the PORT/EPRT (active) or 227/229 (passive) line of the flow's `ftp`. */
    | { kind: 'announce' }
    | { kind: 'fin' }
    /** RST with seq = snd_nxt + seqDelta; `ack` sets ACK with ack = rcv_nxt. Only delta 0 closes. */
    | { kind: 'rst'; seqDelta: number; ack: boolean }
    /** Resend the segment `back` places before this side's latest one (0 = the latest). */
    | { kind: 'retransmit'; back: number }
    /** Two consecutive data segments, the second sent first. */
    | { kind: 'reorder'; lens: [number, number] }
    /** A stray segment at snd_nxt + seqDelta acking rcv_nxt + ackDelta; state untouched. */
    | { kind: 'oow'; seqDelta: number; ackDelta: number; len: number }
    /** A segment with an arbitrary flags field (e.g. the invalid combinations of §4.2); state untouched. */
    | { kind: 'flags'; flags: number }
    | Omit<IcmpErrorEvent, keyof EventBase>
  );

export type UdpEvent = EventBase &
  ({ kind: 'dgram'; len: number; noChecksum?: boolean } | Omit<IcmpErrorEvent, keyof EventBase>);

/** TFTP (RFC 1350): RRQ to port 69, then DATA/ACK between the client port and the server's new port. */
export type TftpEvent = EventBase &
  ({ kind: 'rrq' } | { kind: 'tftpData'; block: number; len: number } | { kind: 'tftpAck'; block: number } | Omit<IcmpErrorEvent, keyof EventBase>);

/** ICMP echo: `orig` = echo request, `reply` = echo reply. */
export type IcmpEvent = EventBase &
  ({ kind: 'echo'; seq: number; len: number } | Omit<IcmpErrorEvent, keyof EventBase>);

/**
 * Odd frames: ARP and runts (a 10-byte IP header) never reach the tracker; `badVersion` is a UDP
 * packet whose IP version nibble contradicts the EtherType, which OVS 3.1 tracks all the same.
 */
export type NoiseEvent = EventBase & { kind: 'arp' | 'runt' | 'badVersion' | 'otherProto' };

/** Per-endpoint TCP parameters, [client, server]. */
export interface TcpParams {
  isn: [number, number];
  /** Receive buffer in bytes (what the window advertises, scaled when both SYNs offered wscale). */
  win: [number, number];
  /** Window-scale option on this side's SYN / SYN-ACK, or null for none. */
  wscale: [number | null, number | null];
  /** MSS option on SYN, or null for none. */
  mss: [number | null, number | null];
  sackOk: [boolean, boolean];
}

interface FlowBase {
  family: Family;
  pair: number;
  origin: Side;
  /** Host index of the client in the origin side's pool, and of the server in the other side's pool. */
  client: number;
  server: number;
  start: number;
  /** Header shape of all its packets (absent: untagged, no IPv4 options). */
  shape?: HeaderShape;
}

export interface TcpFlow extends FlowBase {
  proto: 'tcp';
  sport: number;
  dport: number;
  tcp: TcpParams;
  events: TcpEvent[];
}

/**
 * An FTP control session (to port 21) and the data connection its PORT/EPRT or 227/229 announces
 * (docs/conntrack-semantics.md §8.2, §8.3). Events with `conn: 'data'` belong to the data connection,
 * whose client is the server in active mode (it connects to the announced client port) and the
 * client in passive mode (it connects to the announced server port).
 */
export interface FtpFlow extends FlowBase {
  proto: 'ftp';
  sport: number;
  tcp: TcpParams;
  ftp: {
    mode: 'active' | 'passive';
    /** The announced port P. */
    port: number;
    /** Source port of the data connection's originator (20 in active mode by convention). */
    dataSport: number;
    /** Announce this host index (same side as the announcer) instead of the real address; null = correct. */
    wrongHost: number | null;
    data: TcpParams;
  };
  events: TcpEvent[];
}

export interface UdpFlow extends FlowBase {
  proto: 'udp';
  sport: number;
  dport: number;
  events: UdpEvent[];
}

export interface TftpFlow extends FlowBase {
  proto: 'tftp';
  sport: number;
  /** The server's transfer port (its "TID"), from which it answers. */
  tid: number;
  events: TftpEvent[];
}

export interface IcmpFlow extends FlowBase {
  proto: 'icmp';
  id: number;
  events: IcmpEvent[];
}

export interface NoiseFlow extends FlowBase {
  proto: 'noise';
  events: NoiseEvent[];
}

export type Flow = TcpFlow | FtpFlow | UdpFlow | TftpFlow | IcmpFlow | NoiseFlow;

export interface Scenario {
  v: 1;
  ports: PortMap;
  /** Address pools (spread layout); absent in scenarios stored before issue 16 (legacy layout). */
  addrs?: AddressPools;
  flows: Flow[];
}

/** Which kinds of traffic a generator may produce (all default to true). */
export interface TrafficKinds {
  tcp: boolean;
  /** Retransmissions, reordering, out-of-window segments, inexact RSTs in TCP flows. */
  tcpAnomalies: boolean;
  udp: boolean;
  icmp: boolean;
  icmpErrors: boolean;
  ftp: boolean;
  tftp: boolean;
  ipv6: boolean;
  /** Corrupted frames, invalid TCP flag combinations, non-IP frames. */
  malformed: boolean;
  /**
   * Header shapes beyond plain Ethernet + IP: VLAN tags (one or two), IPv4 options, IPv6
   * extension headers, later fragments, other IP protocols (issue 16: every parser path).
   */
  headerShapes: boolean;
  /**
   * Two VLAN tags (802.1Q in 802.1Q, or in an outer 802.1ad tag); default false. The model and
   * the generated program parse both tags and key the inner EtherType, while Open vSwitch with
   * its default `other_config:vlan-limit=1` treats the second tag as payload (dl_type 0x8100,
   * docs/conntrack-semantics.md §3.5), so against OVS these frames disagree by design.
   */
  doubleVlan: boolean;
}

export interface TrafficOptions {
  include?: Partial<TrafficKinds>;
  /** Number of flows (default 1..4). */
  flows?: { min?: number; max?: number };
  /** Data exchanges / datagrams per flow body (default 0..6). */
  events?: { min?: number; max?: number };
  /** Port pairs; default { inside: [1], outside: [2] }. Unequal lengths pair by index modulo. */
  ports?: PortMap;
  /** Probability that the client of a flow sits outside (default 0.2). */
  outsideOrigin?: number;
  /** Hosts per side and family in the address pools (default 3; small pools make tuples collide). */
  hosts?: number;
  /** Timeouts (seconds) around which long gaps are placed; default the OVS defaults of §6.1. */
  timeouts?: number[];
  /** Multiplies the timeouts (e.g. 0.001 when the policy's zone timeout policy uses 1/1000). */
  timeScale?: number;
  /** Long gaps land within ±jitter ms of a timeout (default 1: the exact-boundary cases of §6.2). */
  jitter?: number;
  /** Probability that a gap is a timeout-crossing one (default 0.08). */
  longGapRate?: number;
  /** Upper bound of an ordinary gap in ms (default 200). */
  shortGapMax?: number;
  /**
   * Address pool prefixes per side and family (default: fitted to the policy, else
   * _internals/addresses.ts DEFAULT_POOLS).
   */
  addresses?: { inside?: { v4?: string; v6?: string }; outside?: { v4?: string; v6?: string } };
  /** Server ports drawn for TCP and UDP flows besides the defaults (default: fitted to the policy). */
  serverPorts?: { tcp?: number[]; udp?: number[] };
  /**
   * 'uniform' (default): every run draws from the same distribution. 'coverage': each run picks,
   * among a few candidates drawn from its own random stream, the one that hits most of what the
   * model-only coverage of the earlier runs has not (harness/arbitraries/steering.ts).
   */
  weighting?: 'uniform' | 'coverage';
}

/** What the renderer intended for one trace step (reports, tests). */
export interface StepInfo {
  flow: number;
  /** Index of the event in its flow's `events`. */
  event: number;
  /** Short readable description, e.g. `tcp#0 orig data 100 seq=1001 ack=2001`. */
  label: string;
  /** The PacketView ctStatus the frame is built to have (0 = trackable; CT_* otherwise). */
  ctStatus: number;
  /** Set when the frame is a deliberate anomaly the parser cannot see (bad flags, out of window, …). */
  anomaly?: string;
}

export interface RenderedScenario {
  trace: import('../../model/verdict.js').Trace;
  steps: StepInfo[];
}
