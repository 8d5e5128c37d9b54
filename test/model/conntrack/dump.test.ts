import { describe, expect, it } from 'vitest';
import { Conntrack, formatConnection } from '../../../model/conntrack/index.js';
import { PacketView } from '../../../model/packet/view.js';
import { buildFrame } from '../../../model/packet/build.js';
import { CtArgs, CtMeta } from '../../../model/conntrack/types.js';

describe('formatConnection (dpctl/dump-conntrack -m -s shape)', () => {
  it('prints TCP, UDP and ICMP entries as OVS does: protocol, orig, reply, id, zone, timeout, mark, labels, protoinfo', () => {
    const ct = new Conntrack();
    const v = new PacketView();
    const md = new CtMeta();
    const commit = (frame: Uint8Array, zone: number, mark = 0): void => {
      const a = new CtArgs();
      a.zone = zone;
      a.commit = true;
      if (mark) Object.assign(a, { setMark: true, markValue: mark, markMask: 0xffffffff });
      md.clear();
      ct.execute(v.parse(frame), a, 1000, md);
    };
    commit(buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, tcp: { sport: 1234, dport: 80, flags: 'S', seq: 1 } }), 3, 7);
    commit(buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 53, dport: 5353 } }), 0);
    commit(buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, icmp: { type: 8, code: 0, id: 99, seq: 1 } }), 0);
    const lines = [...ct.connections(1000)].map(formatConnection).sort();
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^icmp,orig=\(src=10\.0\.0\.1,dst=10\.0\.0\.2,id=99,type=8,code=0\),reply=\(src=10\.0\.0\.2,dst=10\.0\.0\.1,id=99,type=0,code=0\),id=\d+,timeout=60,protoinfo=\(state=/);
    expect(lines[1]).toMatch(/^tcp,orig=\(src=10\.0\.0\.1,dst=10\.0\.0\.2,sport=1234,dport=80\),reply=\(src=10\.0\.0\.2,dst=10\.0\.0\.1,sport=80,dport=1234\),id=\d+,zone=3,timeout=30,mark=7,protoinfo=\(state_orig=SYN_SENT,state_reply=CLOSED\)/);
    expect(lines[2]).toMatch(/^udp,orig=\(src=10\.0\.0\.1,dst=10\.0\.0\.2,sport=53,dport=5353\),.*timeout=60,protoinfo=\(state=/);
  });
});
