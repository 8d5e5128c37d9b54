/**
 * model/conntrack/ipf.ts: OVS 3.1 userspace fragment reassembly (lib/ipf.c v3.1.0;
 * docs/conntrack-semantics.md §3.4). Each test sends fragments through `conntrackExecute` one per
 * batch, as `netdev-dummy/receive` does.
 */
import { describe, expect, it } from 'vitest';
import { CS_INVALID } from '../../../model/ctstate.js';
import { buildFrame, ipPacketOf, type FrameSpec } from '../../../model/packet/build.js';
import { PacketView } from '../../../model/packet/view.js';
import {
  IPF_COMPLETE,
  IPF_EXPIRED_CT_STATE,
  IPF_HELD,
  IPF_INVALID,
  IPF_PASS,
  Ipf,
  NETDEV_MAX_BURST,
  formatIpfStatus,
} from '../../../model/conntrack/index.js';
import { FragDriver, fragmentFrame } from './frag-helpers.js';

const A4 = { src: '10.1.1.1', dst: '10.1.1.2' };
const R4 = { src: '10.1.1.2', dst: '10.1.1.1' };
const A6 = { src: 'fd00::1', dst: 'fd00::2' };
const R6 = { src: 'fd00::2', dst: 'fd00::1' };

function bytes(n: number, seed = 0): Uint8Array {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 7 + seed) & 255;
  return b;
}

function udp(ip: { src: string; dst: string }, n: number, id = 77): FrameSpec {
  return { ip: { ...ip, id }, udp: { sport: 1111, dport: 2222 }, payload: bytes(n) };
}

/** A raw fragment (protocol 17 with no parsed L4) built directly from its fields. */
function rawFrag(ip: { src: string; dst: string }, id: number, offset: number, more: boolean, dataLen: number): Uint8Array {
  if (ip.src.includes(':')) {
    return buildFrame({ ip: { ...ip, proto: 17, ext: [{ type: 'fragment', id, fragOffset: offset, more }] }, payload: bytes(dataLen, offset) });
  }
  return buildFrame({ ip: { ...ip, id, proto: 17, fragOffset: offset, moreFragments: more }, payload: bytes(dataLen, offset) });
}

describe('ipf: reassembly and release (§3.4)', () => {
  it('IPv4 UDP in order: first held, last completes; both released new|trk in offset order, ports on the first only', () => {
    const d = new FragDriver();
    const orig = buildFrame(udp(A4, 2000));
    const fr = fragmentFrame(orig, [1400]);
    const r1 = d.send(fr[0]!, { tag: 0, commit: true });
    expect(r1).toEqual({ state: null, released: [], datagram: null });
    expect(d.ct.size).toBe(0);
    const r2 = d.send(fr[1]!, { tag: 1, commit: true });
    expect(r2.state).toBeNull(); // the completing fragment is held too, then released with the rest
    expect(r2.released.map((x) => [x.tag, x.state])).toEqual([[0, 'new|trk'], [1, 'new|trk']]);
    expect(r2.released.map((x) => x.frame)).toEqual([fr[0], fr[1]]);
    expect([r2.released[0]!.md.origSport, r2.released[0]!.md.origDport]).toEqual([1111, 2222]);
    expect([r2.released[1]!.md.origSport, r2.released[1]!.md.origDport, r2.released[1]!.md.origProto]).toEqual([0, 0, 17]);
    expect(r2.released.every((x) => x.md.conn === -1)).toBe(true);
    // The datagram is the original IP packet, tracked once and committed.
    expect(ipPacketOf(r2.datagram!)).toEqual(ipPacketOf(orig));
    expect(d.ct.size).toBe(1);
    expect(d.ct.ipf.idle).toBe(true);
    expect(d.send(buildFrame({ ip: R4, udp: { sport: 2222, dport: 1111 } })).state).toBe('est|rpl|trk');
    const s = d.ct.ipf.status();
    expect([s.v4.accepted, s.v4.completed, s.nfrag]).toEqual([2, 2, 0]);
  });

  it('IPv4 TCP out of order (3 fragments, reversed): released in offset order carrying the SYN result', () => {
    const d = new FragDriver();
    const orig = buildFrame({ ip: { ...A4, id: 5 }, tcp: { sport: 40000, dport: 80, flags: 'S', seq: 1000 }, payload: bytes(3000) });
    const fr = fragmentFrame(orig, [1200, 2400]);
    const res = d.sendAll(fr, [2, 1, 0], { commit: true });
    expect(res.slice(0, 2).map((r) => [r.state, r.released.length])).toEqual([[null, 0], [null, 0]]);
    const last = res[2]!;
    expect(last.released.map((x) => [x.tag, x.state])).toEqual([[0, 'new|trk'], [1, 'new|trk'], [2, 'new|trk']]);
    expect(ipPacketOf(last.datagram!)).toEqual(ipPacketOf(orig));
    expect([...d.ct.connections(d.now)]).toMatchObject([{ proto: 6, orig: { sport: 40000, dport: 80 } }]);
    const sa = buildFrame({ ip: R4, tcp: { sport: 80, dport: 40000, flags: 'SA', seq: 5000, ack: 1000 + 3000 + 1 } });
    expect(d.send(sa).state).toBe('est|rpl|trk');
  });

  it('IPv4 ICMP echo fragmented: new|trk, and the unfragmented reply is est|rpl|trk', () => {
    const d = new FragDriver();
    const orig = buildFrame({ ip: { ...A4, id: 9 }, icmp: { type: 8, id: 42, seq: 1 }, payload: bytes(2500) });
    const fr = fragmentFrame(orig, [1392]);
    d.send(fr[1]!, { tag: 1, commit: true });
    const r = d.send(fr[0]!, { tag: 0, commit: true });
    expect(r.released.map((x) => [x.tag, x.state])).toEqual([[0, 'new|trk'], [1, 'new|trk']]);
    expect([r.released[0]!.md.origSport, r.released[0]!.md.origDport]).toEqual([8, 0]); // ICMP type/code
    expect(d.send(buildFrame({ ip: R4, icmp: { type: 0, id: 42, seq: 1 } })).state).toBe('est|rpl|trk');
  });

  it('IPv6 UDP in order and out of order; the datagram is the original packet', () => {
    for (const order of [[0, 1, 2], [1, 2, 0], [2, 0, 1]]) {
      const d = new FragDriver();
      const orig = buildFrame(udp(A6, 3000));
      const fr = fragmentFrame(orig, [1280, 2560], 0xabcdef01);
      const res = d.sendAll(fr, order, { commit: true });
      const last = res[2]!;
      expect(res.slice(0, 2).every((r) => r.state === null && r.released.length === 0)).toBe(true);
      expect(last.released.map((x) => x.tag)).toEqual([0, 1, 2]);
      expect(last.released.every((x) => x.state === 'new|trk')).toBe(true);
      expect(ipPacketOf(last.datagram!)).toEqual(ipPacketOf(orig));
      expect(d.send(buildFrame({ ip: R6, udp: { sport: 2222, dport: 1111 } })).state).toBe('est|rpl|trk');
    }
  });

  it('IPv6 ICMPv6 echo and TCP fragmented', () => {
    const d = new FragDriver();
    const echo = buildFrame({ ip: A6, icmp: { type: 128, id: 7, seq: 1 }, payload: bytes(1800) });
    const fe = fragmentFrame(echo, [1240], 11);
    expect(d.send(fe[0]!, { commit: true }).state).toBeNull();
    expect(d.send(fe[1]!, { commit: true }).released.map((x) => x.state)).toEqual(['new|trk', 'new|trk']);
    expect(d.send(buildFrame({ ip: R6, icmp: { type: 129, id: 7, seq: 1 } })).state).toBe('est|rpl|trk');
    const syn = buildFrame({ ip: A6, tcp: { sport: 5555, dport: 443, flags: 'S' }, payload: bytes(2000) });
    const ft = fragmentFrame(syn, [1248], 12);
    d.send(ft[1]!, { commit: true });
    const r = d.send(ft[0]!, { commit: true });
    expect(r.released.map((x) => [x.tag, x.state, x.md.origSport])).toEqual([[0, 'new|trk', 5555], [0, 'new|trk', 0]]);
    expect(d.ct.size).toBe(2);
  });

  it('an existing connection: fragments of a later datagram report est (reply direction est|rpl)', () => {
    const d = new FragDriver();
    d.send(buildFrame({ ip: A4, udp: { sport: 1111, dport: 2222 } }), { commit: true });
    d.send(buildFrame({ ip: R4, udp: { sport: 2222, dport: 1111 } }));
    const fr = fragmentFrame(buildFrame({ ip: { ...R4, id: 300 }, udp: { sport: 2222, dport: 1111 }, payload: bytes(2000) }), [1400]);
    d.send(fr[0]!);
    expect(d.send(fr[1]!).released.map((x) => x.state)).toEqual(['est|rpl|trk', 'est|rpl|trk']);
  });
});

describe('ipf: rejected fragments', () => {
  it('a non-final fragment below 1200 (v4) / 1280 (v6) L3 bytes is inv|trk and passed on; a small last fragment is held', () => {
    const d = new FragDriver();
    const small = rawFrag(A4, 1, 0, true, 1176); // 1196 L3 bytes
    expect(d.send(small).state).toBe('inv|trk');
    expect(d.send(rawFrag(A4, 2, 0, true, 1184)).state).toBeNull(); // 1204: accepted
    const small6 = rawFrag(A6, 3, 0, true, 1224); // 40 + 8 + 1224 = 1272
    expect(d.send(small6).state).toBe('inv|trk');
    expect(d.send(rawFrag(A6, 4, 1280, true, 8)).state).toBe('inv|trk'); // middle fragment, small
    expect(d.send(rawFrag(A4, 5, 1480, false, 8)).state).toBeNull(); // last fragment: held
    const s = d.ct.ipf.status();
    expect([s.v4.tooSmall, s.v6.tooSmall, s.v4.accepted, s.nfrag]).toEqual([1, 2, 2, 2]);
  });

  it('overlapping and duplicate fragments are inv|trk and counted', () => {
    const d = new FragDriver();
    const a = rawFrag(A4, 7, 0, true, 1400);
    expect(d.send(a).state).toBeNull();
    expect(d.send(a).state).toBe('inv|trk'); // duplicate
    expect(d.send(rawFrag(A4, 7, 1392, false, 100)).state).toBe('inv|trk'); // starts inside
    const six = rawFrag(A6, 7, 0, true, 1400);
    d.send(six);
    expect(d.send(rawFrag(A6, 7, 1392, false, 16)).state).toBe('inv|trk');
    const s = d.ct.ipf.status();
    expect([s.v4.overlapped, s.v6.overlapped, s.v4.accepted, s.v6.accepted]).toEqual([2, 1, 1, 1]);
  });

  it('a fragment that strictly contains a held one is not caught (ipf_is_frag_duped) and the list never completes', () => {
    const d = new FragDriver();
    d.send(rawFrag(A4, 8, 1400, true, 1400)); // data bytes 1400..2799
    expect(d.send(rawFrag(A4, 8, 0, true, 4000)).state).toBeNull(); // 0..3999 contains it
    expect(d.send(rawFrag(A4, 8, 4000, false, 8)).state).toBeNull(); // first+last seen, not contiguous
    expect(d.ct.ipf.dumpLists()).toEqual(['(src=10.1.1.1,dst=10.1.1.2,recirc_id=0,ip_id=8,dl_type=0x800,zone=0,nw_proto=17,num_fragments=3,state=first/last frag)']);
  });

  it('IPv6: a first fragment with an extension header after the fragment header never lines up (dp_packet_l4 quirk)', () => {
    const d = new FragDriver();
    const first = buildFrame({ ip: { ...A6, proto: 17, ext: [{ type: 'fragment', id: 5, more: true }, { type: 'dstopt' }] }, payload: bytes(1400) });
    expect(d.send(first).state).toBeNull();
    // The fragmentable part of the first fragment is 8 (DSTOPT) + 1400 bytes, so the next starts at 1408.
    expect(d.send(rawFrag(A6, 5, 1408, false, 64))).toMatchObject({ state: null, released: [] });
    expect(d.ct.ipf.dumpLists()[0]).toMatch(/num_fragments=2,state=first\/last frag/);
  });

  it('a bad IPv4 header checksum or a length mismatch makes a fragment inv|trk without counting', () => {
    const d = new FragDriver();
    const bad = buildFrame({ ip: { ...A4, id: 1, proto: 17, moreFragments: true, badChecksum: true }, payload: bytes(1400) });
    expect(d.send(bad).state).toBe('inv|trk');
    const s = d.ct.ipf.status();
    expect([s.v4.accepted, s.v4.tooSmall, s.v4.overlapped]).toEqual([0, 0, 0]);
    const ipf = new Ipf();
    const v = new PacketView().parse(buildFrame({ ip: { ...A4, proto: 17, moreFragments: true, totalLength: 1500 }, payload: bytes(1400) }));
    expect(ipf.preprocess(v, 0, 0, 0)).toBe(IPF_INVALID);
    expect(ipf.preprocess(new PacketView().parse(buildFrame(udp(A4, 10))), 0, 0, 0)).toBe(IPF_PASS);
  });

  it('IPv6 fragment header with only reserved bits set: not ipf\'s, and the tracker refuses it', () => {
    const f = buildFrame({ ip: { ...A6, ext: [{ type: 'fragment', id: 1 }] }, udp: { sport: 1, dport: 2 } });
    const frag = Uint8Array.from(f);
    frag[14 + 40 + 3] = 0x02; // reserved bits of the offset/flags word
    const ipf = new Ipf();
    expect(ipf.preprocess(new PacketView().parse(frag), 0, 0, 0)).toBe(IPF_PASS);
    expect(new FragDriver().send(frag).state).toBe('inv|trk');
  });
});

describe('ipf: expiry and purge (15 s, +10 s)', () => {
  it('a held last fragment expires after 15 s and is released into a later ct call with ct_state inv', () => {
    const d = new FragDriver();
    const last = rawFrag(A4, 3, 1400, false, 100);
    d.now = 1000;
    expect(d.send(last, { tag: 99, zone: 5 }).state).toBeNull();
    const other = buildFrame({ ip: A6, udp: { sport: 1, dport: 2 } }); // any family, any zone
    d.now = 16_000; // now <= expiration: not yet
    expect(d.send(other, { zone: 9 })).toMatchObject({ state: 'new|trk', released: [] });
    d.now = 16_001;
    const r = d.send(other, { zone: 9 });
    expect(r.state).toBe('new|trk');
    expect(r.released.map((x) => [x.tag, x.frame])).toEqual([[99, last]]);
    expect(r.released[0]!.md.state).toBe(IPF_EXPIRED_CT_STATE);
    expect(IPF_EXPIRED_CT_STATE).toBe(CS_INVALID);
    const s = d.ct.ipf.status();
    // v3.1.0 counts sent fragments in the family of the batch that carried them.
    expect([s.v4.expired, s.v6.expired, s.nfrag]).toEqual([0, 1, 0]);
    expect(d.ct.ipf.idle).toBe(true);
  });

  it('expired fragments keep the ct fields they had when held (only ct_state becomes inv)', () => {
    const d = new FragDriver();
    const md = new FragDriver().md;
    md.state = 0x22;
    md.zone = 3;
    md.mark = 0xab;
    d.send(rawFrag(A4, 3, 0, true, 1400), { md, zone: 3, recirc: 1 });
    d.now = 15_001;
    const r = d.send(buildFrame(udp(A4, 1)));
    expect(r.released.map((x) => [x.md.state, x.md.zone, x.md.mark])).toEqual([[CS_INVALID, 3, 0xab]]);
  });

  it('at most one expired list per ct call; a list 10 s past expiry is purged, not sent', () => {
    const d = new FragDriver();
    d.send(rawFrag(A4, 1, 0, true, 1400), { tag: 1 });
    d.now = 100;
    d.send(rawFrag(A4, 2, 0, true, 1400), { tag: 2 });
    d.now = 20_000;
    const normal = buildFrame(udp(A4, 1));
    expect(d.send(normal).released.map((x) => x.tag)).toEqual([1]);
    expect(d.send(normal).released.map((x) => x.tag)).toEqual([2]);
    d.send(rawFrag(A4, 3, 0, true, 1400), { tag: 3 });
    d.now = 20_000 + 25_000;
    expect(d.send(normal).released).toEqual([]);
    const s = d.ct.ipf.status();
    expect([s.v4.expired, s.v4.purged, s.nfrag]).toEqual([2, 1, 0]);
  });

  it('runCleaner purges lists 10 s past expiry (ipf_clean_thread_main)', () => {
    const ipf = new Ipf();
    const v = new PacketView().parse(rawFrag(A4, 1, 0, true, 1400));
    expect(ipf.preprocess(v, 0, 0, 0)).toBe(IPF_HELD);
    expect(ipf.runCleaner(24_999)).toBe(0);
    expect(ipf.runCleaner(25_000)).toBe(1);
    expect([ipf.idle, ipf.status().v4.purged]).toEqual([true, 1]);
  });

  it('a datagram above 65535 bytes fails reassembly: its fragments stay held, later ones bypass, all expire', () => {
    const d = new FragDriver();
    d.ct.ipf.setMinFrag(false, 400);
    // 46 × 1400 data bytes, then 1136 up to data byte 65535: 20 + 65536 bytes > 65535.
    const n = 47;
    for (let i = 0; i < n; i++) {
      expect(d.send(rawFrag(A4, 4, i * 1400, i < n - 1, i < n - 1 ? 1400 : 1136), { tag: i }).state).toBeNull();
    }
    expect(d.ct.ipf.dumpLists()[0]).toMatch(/num_fragments=47,state=reassemble fail/);
    expect(d.send(rawFrag(A4, 4, 0, true, 1400)).state).toBe('inv|trk'); // list failed: bypass, no overlap count
    expect(d.ct.ipf.status().v4.overlapped).toBe(0);
    d.now = 15_001;
    const r = d.send(buildFrame(udp(A4, 1)));
    expect(r.released.length).toBe(NETDEV_MAX_BURST - 1); // the batch fills up
    expect(d.send(buildFrame(udp(A4, 1))).released.length).toBe(n - (NETDEV_MAX_BURST - 1));
    expect(d.ct.ipf.idle).toBe(true);
  });
});

describe('ipf: configuration and limits', () => {
  it('a disabled family makes every fragment inv|trk; the other family still reassembles', () => {
    const d = new FragDriver();
    d.ct.ipf.setEnabled(false, false);
    const fr = fragmentFrame(buildFrame(udp(A4, 2000)), [1400]);
    expect([d.send(fr[0]!).state, d.send(fr[1]!).state]).toEqual(['inv|trk', 'inv|trk']);
    const f6 = fragmentFrame(buildFrame(udp(A6, 2000)), [1400]);
    d.send(f6[0]!);
    expect(d.send(f6[1]!).released.map((x) => x.state)).toEqual(['new|trk', 'new|trk']);
    d.ct.ipf.setEnabled(true, false);
    expect(d.send(f6[0]!).state).toBe('inv|trk');
    d.ct.ipf.setEnabled(false, true);
    expect(d.send(fr[0]!).state).toBeNull();
    expect(d.ct.ipf.status().v4.enabled).toBe(true);
  });

  it('max-nfrags: beyond the limit fragments bypass reassembly and are inv|trk', () => {
    const d = new FragDriver();
    d.ct.ipf.setMaxNfrags(2);
    expect(d.send(rawFrag(A4, 1, 0, true, 1400)).state).toBeNull();
    expect(d.send(rawFrag(A4, 2, 0, true, 1400)).state).toBeNull();
    expect(d.send(rawFrag(A4, 3, 0, true, 1400)).state).toBe('inv|trk');
    expect(d.send(rawFrag(A4, 1, 1400, false, 8)).state).toBe('inv|trk'); // even for an open list
    expect(d.ct.ipf.status()).toMatchObject({ nfrag: 2, nfragMax: 2 });
    d.ct.ipf.setMaxNfrags(3);
    expect(d.send(rawFrag(A4, 1, 1400, false, 8)).released.length).toBe(2);
    expect(() => d.ct.ipf.setMaxNfrags(5001)).toThrow(expect.objectContaining({ code: 'CTO_IPF_CONFIG' }));
    d.ct.ipf.setMaxNfrags(5000);
  });

  it('min-frag: settable down to 400 per family, refused below', () => {
    const d = new FragDriver();
    const f = rawFrag(A4, 1, 0, true, 480); // 500 L3 bytes
    expect(d.send(f).state).toBe('inv|trk');
    d.ct.ipf.setMinFrag(false, 400);
    expect(d.send(f).state).toBeNull();
    const f6 = rawFrag(A6, 1, 0, true, 400); // 448 L3 bytes
    expect(d.send(f6).state).toBe('inv|trk');
    d.ct.ipf.setMinFrag(true, 448);
    expect(d.send(f6).state).toBeNull();
    expect(() => d.ct.ipf.setMinFrag(false, 399)).toThrow(expect.objectContaining({ code: 'CTO_IPF_CONFIG' }));
    expect(() => d.ct.ipf.setMinFrag(true, 1.5)).toThrow(expect.objectContaining({ code: 'CTO_IPF_CONFIG' }));
    expect(d.ct.ipf.status()).toMatchObject({ v4: { minFragSize: 400 }, v6: { minFragSize: 448 } });
  });

  it('status text follows dpctl/ipf-get-status', () => {
    const d = new FragDriver();
    d.send(rawFrag(A4, 1, 0, true, 1400));
    const txt = formatIpfStatus(d.ct.ipf.status(), d.ct.ipf.dumpLists());
    expect(txt).toContain('        v4 enabled: 1\n        v6 enabled: 1\n        max num frags (v4/v6): 1000\n        num frag: 1\n        min v4 frag size: 1200\n        v4 frags accepted: 1\n');
    expect(txt).toContain('min v6 frag size: 1280');
    expect(txt).toContain('(src=10.1.1.1,dst=10.1.1.2,recirc_id=0,ip_id=1,dl_type=0x800,zone=0,nw_proto=17,num_fragments=1,state=first frag)');
  });
});

describe('ipf: list keys', () => {
  it('zones isolate fragment lists', () => {
    const d = new FragDriver();
    const fr = fragmentFrame(buildFrame(udp(A4, 2000)), [1400]);
    d.send(fr[0]!, { zone: 1 });
    expect(d.send(fr[1]!, { zone: 2 }).released).toEqual([]); // a different list
    expect(d.ct.ipf.status().nfrag).toBe(2);
    const r = d.send(fr[1]!, { zone: 1 });
    expect(r.released.map((x) => [x.state, x.md.zone])).toEqual([['new|trk', 1], ['new|trk', 1]]);
    d.send(fr[0]!, { zone: 2 });
    expect(d.ct.ipf.idle).toBe(true);
  });

  it('recirculation ids, IP ids and (IPv4) protocols isolate lists; IPv6 ignores the protocol', () => {
    const d = new FragDriver();
    d.send(rawFrag(A4, 1, 0, true, 1400), { recirc: 1 });
    expect(d.send(rawFrag(A4, 1, 1400, false, 8), { recirc: 2 }).released).toEqual([]);
    expect(d.send(rawFrag(A4, 2, 1400, false, 8), { recirc: 1 }).released).toEqual([]);
    const tcpLast = buildFrame({ ip: { ...A4, id: 1, proto: 6, fragOffset: 1400 }, payload: bytes(8) });
    expect(d.send(tcpLast, { recirc: 1 }).released).toEqual([]);
    expect(d.send(rawFrag(A4, 1, 1400, false, 8), { recirc: 1 }).released.length).toBe(2);
    const first6 = rawFrag(A6, 9, 0, true, 1400);
    d.send(first6);
    const last6 = buildFrame({ ip: { ...A6, proto: 6, ext: [{ type: 'fragment', id: 9, fragOffset: 1400 }] }, payload: bytes(8) });
    expect(d.send(last6).released.length).toBe(2);
  });

  it('released fragments meeting a second ct() in another pass are reassembled again and the datagram tracked again', () => {
    const d = new FragDriver();
    const fr = fragmentFrame(buildFrame(udp(A4, 2000)), [1400]);
    d.send(fr[0]!, { zone: 1, tag: 0 });
    const first = d.send(fr[1]!, { zone: 1, tag: 1 }); // ct(zone=1,table=1): no commit
    expect(d.ct.size).toBe(0);
    // table 1: ct(commit,zone=1) on each released fragment, recirc id 1, md from the release
    const res = first.released.map((x) => d.send(x.frame, { zone: 1, commit: true, recirc: 1, md: x.md, tag: x.tag }));
    expect(res[0]!.state).toBeNull();
    expect(res[1]!.released.map((x) => [x.tag, x.state])).toEqual([[0, 'new|trk'], [1, 'new|trk']]);
    expect(d.ct.size).toBe(1);
    expect(d.ct.ipf.status().v4).toMatchObject({ accepted: 4, completed: 4 });
  });

  it('preprocess returns IPF_COMPLETE with a parsed datagram and the first fragment\'s md', () => {
    const ipf = new Ipf();
    const orig = buildFrame(udp(A4, 2000));
    const fr = fragmentFrame(orig, [1400]);
    const v = new PacketView();
    const md = new FragDriver().md;
    md.zone = 4;
    md.state = 0x21;
    md.conn = 3;
    expect(ipf.preprocess(v.parse(fr[0]!), 4, 0, 0, md)).toBe(IPF_HELD);
    expect(ipf.preprocess(v.parse(fr[1]!), 4, 0, 0)).toBe(IPF_COMPLETE);
    expect([ipf.datagramView.ctStatus, ipf.datagramView.sport, ipf.datagramView.l4Len]).toEqual([0, 1111, 2008]);
    expect([ipf.datagramMd.zone, ipf.datagramMd.state, ipf.datagramMd.conn]).toEqual([4, 0x21, -1]);
  });
});
