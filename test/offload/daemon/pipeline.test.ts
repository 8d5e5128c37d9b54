/**
 * Push or attach (offload/daemon/pipeline.ts) against a scripted client: what the switch
 * reports through GetForwardingPipelineConfig decides, and `--pipeline attach` never pushes.
 */
import { describe, expect, it } from 'vitest';
import { P4InfoIndex, P4RuntimeRpcError, type P4RuntimeClient } from '../../../p4/index.js';
import { DaemonTargetError, compileOffload, ensurePipeline, programShape, type DaemonProgram } from '../../../offload/index.js';
import { handP4Info } from '../../p4/fixtures/hand.p4info.js';

const idx = P4InfoIndex.from(handP4Info());
const other = (() => {
  const p = handP4Info();
  p.tables[0].size = 12345;
  return P4InfoIndex.from(p);
})();
const json = new TextEncoder().encode('{"program":1}');
// No conntrack or policy tables: no post-push Read.
const program = { plan: { ctTables: [], stageTables: [] }, json, p4info: idx, entries: [] } as unknown as DaemonProgram;
const COOKIE = 0x1234n;

function fakeClient(loaded: { p4info?: P4InfoIndex; cookie?: bigint; deviceConfig?: Uint8Array } | 'none') {
  const calls: string[] = [];
  const c = {
    address: '127.0.0.1:9559',
    p4info: undefined as P4InfoIndex | undefined,
    async getPipeline() {
      calls.push('get');
      if (loaded === 'none') throw new P4RuntimeRpcError('GetForwardingPipelineConfig', 9, 'No forwarding pipeline config set for this device');
      return { ...loaded, raw: undefined };
    },
    async setPipeline(cfg: { cookie?: bigint }) {
      calls.push(`set cookie=0x${cfg.cookie?.toString(16)}`);
    },
  };
  return { c: c as unknown as P4RuntimeClient, calls, raw: c };
}

describe('ensurePipeline', () => {
  it('pushes (with the cookie) when the switch has no pipeline', async () => {
    const f = fakeClient('none');
    expect(await ensurePipeline(f.c, program, COOKIE, 'auto', 1000)).toEqual({ action: 'pushed', why: 'the switch had no pipeline' });
    expect(f.calls).toEqual(['get', 'set cookie=0x1234']);
  });

  it('attaches when P4Info and cookie match, and when P4Info and bmv2 JSON match (no cookie)', async () => {
    let f = fakeClient({ p4info: idx, cookie: COOKIE });
    expect(await ensurePipeline(f.c, program, COOKIE, 'auto', 1000)).toMatchObject({ action: 'attached', why: 'cookie 0x1234 matches' });
    expect(f.calls).toEqual(['get']);
    expect(f.raw.p4info).toBe(idx);
    f = fakeClient({ p4info: P4InfoIndex.from(handP4Info()), deviceConfig: json });
    expect(await ensurePipeline(f.c, program, COOKIE, 'auto', 1000)).toMatchObject({ action: 'attached', why: 'same P4Info and bmv2 JSON' });
  });

  it('replaces another program in auto mode; refuses in attach mode (final, no retry); push mode never looks', async () => {
    let f = fakeClient({ p4info: other, cookie: COOKIE });
    expect(await ensurePipeline(f.c, program, COOKIE, 'auto', 1000)).toEqual({ action: 'pushed', why: 'another P4Info' });
    f = fakeClient({ p4info: idx, cookie: 7n, deviceConfig: new Uint8Array([1]) });
    expect((await ensurePipeline(f.c, program, COOKIE, 'auto', 1000)).why).toMatch(/same P4Info but another program or policy \(cookie 0x7\)/);
    f = fakeClient({ p4info: other });
    const e = (await ensurePipeline(f.c, program, COOKIE, 'attach', 1000).catch((x: unknown) => x)) as DaemonTargetError;
    expect(e).toBeInstanceOf(DaemonTargetError);
    expect(e.final).toBe(true);
    expect(e.message).toMatch(/--pipeline attach refuses to replace it/);
    f = fakeClient('none');
    await expect(ensurePipeline(f.c, program, COOKIE, 'attach', 1000)).rejects.toThrow(/no pipeline is loaded/);
    f = fakeClient({ p4info: idx, cookie: COOKIE });
    expect(await ensurePipeline(f.c, program, COOKIE, 'push', 1000)).toEqual({ action: 'pushed', why: '--pipeline push' });
    expect(f.calls).toEqual(['set cookie=0x1234']);
  });
});

describe('programShape (a policy change pushes a pipeline only when the shape differs)', () => {
  const BASE = `table=0,priority=10,ip,actions=ct(table=1,zone=5)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=5),output:2
table=1,priority=10,ip,in_port=1,ct_state=+trk+est,actions=output:2
table=1,priority=0,actions=drop
`;
  const shape = (text: string, source = 'p.flows'): string => programShape(compileOffload(text, source).p4);

  it('rules added or removed in existing tables, or another file name: same shape (only the comments differ)', () => {
    const fewer = BASE.replace('table=1,priority=10,ip,in_port=1,ct_state=+trk+est,actions=output:2\n', '');
    expect(compileOffload(fewer, 'q.flows').p4).not.toBe(compileOffload(BASE, 'p.flows').p4);
    expect(shape(fewer, 'q.flows')).toBe(shape(BASE));
  });

  it('another zone, or another tracked zone: another shape', () => {
    expect(shape(BASE.replace(/zone=5/g, 'zone=6'))).not.toBe(shape(BASE));
    expect(shape(BASE.replace('table=0,priority=0,actions=drop', 'table=0,priority=20,udp,actions=ct(table=1,zone=9)\ntable=0,priority=0,actions=drop'))).not.toBe(shape(BASE));
  });
});
