/**
 * PacketView IPv6 fragment-header details that OVS's flow extraction decides (lib/flow.c
 * `parse_ipv6_ext_hdrs__`, v3.1.0): reserved bits make a fragment, and a later fragment's flow
 * nw_proto is 44.
 */
import { describe, expect, it } from 'vitest';
import { CT_FRAGMENT, CT_OK, FRAG_FIRST, FRAG_LATER, PacketView } from '../../../model/packet/view.js';
import { buildFrame } from '../../../model/packet/build.js';

const A6 = { src: '2001:db8::1', dst: '2001:db8::2' };

describe('PacketView: IPv6 fragment header', () => {
  it('a fragment header whose offset/flags word has only reserved bits set is a fragment, not atomic', () => {
    const f = buildFrame({ ip: { ...A6, ext: [{ type: 'fragment', id: 1 }] }, udp: { sport: 1, dport: 2 } });
    const v = new PacketView();
    expect(v.parse(f).ctStatus).toBe(CT_OK); // atomic: transparent
    for (const res of [0x02, 0x04, 0x06]) {
      const g = Uint8Array.from(f);
      g[14 + 40 + 3] = res;
      v.parse(g);
      expect([v.ctStatus, v.frag, v.fragOffset, v.moreFragments, v.ipProto]).toEqual([CT_FRAGMENT, FRAG_FIRST, 0, false, 17]);
    }
  });

  it('a later IPv6 fragment has ipProto 44 (the flow key nw_proto), a first fragment the L4 protocol', () => {
    const v = new PacketView();
    const later = buildFrame({ ip: { ...A6, proto: 6, ext: [{ type: 'fragment', id: 9, fragOffset: 8 }] }, payload: new Uint8Array(8) });
    expect([v.parse(later).frag, v.ipProto, v.ipId]).toEqual([FRAG_LATER, 44, 9]);
    const first = buildFrame({ ip: { ...A6, ext: [{ type: 'fragment', id: 9, more: true }] }, udp: { sport: 1, dport: 2 } });
    expect([v.parse(first).frag, v.ipProto, v.sport]).toEqual([FRAG_FIRST, 17, 1]);
  });
});
