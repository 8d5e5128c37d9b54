/** Pins the public surface of model/conntrack/index.ts (the pipeline codes against it). */
import { describe, expect, expectTypeOf, it } from 'vitest';
import * as api from '../../../model/conntrack/index.js';
import type { ConnInfo, TimeoutAttr } from '../../../model/conntrack/index.js';
import type { PacketView } from '../../../model/packet/view.js';

describe('model/conntrack public API', () => {
  it('exports the contract names and shapes', () => {
    expect([api.ALG_NONE, api.ALG_FTP, api.ALG_TFTP]).toEqual([0, 1, 2]);
    const a = new api.CtArgs();
    expect([a.zone, a.commit, a.force, a.alg, a.timeoutPolicy, a.setMark, a.setLabel]).toEqual([0, false, false, 0, -1, false, false]);
    expect(a.labelValue).toHaveLength(4);
    const md = new api.CtMeta();
    expect([md.state, md.conn]).toEqual([0, -1]);
    expectTypeOf<api.Conntrack['execute']>().toEqualTypeOf<(pkt: PacketView, args: api.CtArgs, now: number, md: api.CtMeta) => void>();
    expectTypeOf<api.Conntrack['sweep']>().toEqualTypeOf<(now: number) => number>();
    expectTypeOf<api.Conntrack['getZoneLimit']>().parameter(0).toBeNumber();
    expectTypeOf<api.Conntrack['connections']>().returns.toEqualTypeOf<Iterable<ConnInfo>>();
    expectTypeOf<ConnInfo['helper']>().toEqualTypeOf<'ftp' | 'tftp' | null>();
    expectTypeOf<'tcp_syn_sent'>().toMatchTypeOf<TimeoutAttr>();
    expect(api.TIMEOUT_ATTRS).toHaveLength(11);
    expect(api.DEFAULT_TIMEOUTS_S).toEqual([30, 30, 86400, 900, 45, 30, 60, 60, 30, 60, 30]);
    const ct = new api.Conntrack({ hashSalt: 1, maxConns: 10, initialCapacity: 8, tcpSeqCheck: false });
    expect(ct.tcpSeqCheck).toBe(false);
    expect(ct.size).toBe(0);
    expect(ct.timeoutPolicyId('nope')).toBe(-1);
    expect(ct.defineTimeoutPolicy('p', { icmp_reply: 3 })).toBe(0);
    expect(() => ct.defineTimeoutPolicy('q', { bogus: 1 } as never)).toThrow(expect.objectContaining({ code: 'CTO_CT_TIMEOUT_POLICY' }));
    expect(() => ct.bindZoneTimeoutPolicy(1, 'nope')).toThrow(expect.objectContaining({ code: 'CTO_CT_CONFIG' }));
    expect(() => ct.setZoneLimit(70000, 1)).toThrow(expect.objectContaining({ code: 'CTO_CT_CONFIG' }));
  });
});
