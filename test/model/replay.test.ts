import { describe, expect, it } from 'vitest';
import { CS_ESTABLISHED, CS_NEW, CS_REPLY_DIR, CS_TRACKED } from '../../model/ctstate.js';
import { buildFrame } from '../../model/packet/build.js';
import type { CaptureRecord } from '../../model/packet/capture.js';
import { parsePolicy } from '../../model/pipeline/index.js';
import { formatReplayText, formatTimestamp, replayRecords, replayRowJson, virtualTimes } from '../../model/replay.js';
import { PORT_CONTROLLER } from '../../model/verdict.js';

const POLICY = `
timeout_policy quick udp_first=2,udp_multiple=2
table=0,priority=10,ip,actions=ct(table=1,zone=3)
table=0,priority=0,actions=drop
table=1,priority=10,ip,in_port=1,ct_state=+trk+new,actions=ct(commit,zone=3,timeout=quick,exec(set_field:0x7->ct_mark)),output:2
table=1,priority=10,ip,ct_state=+trk+est,actions=controller,output:1
table=1,priority=0,actions=drop
`;

const T0 = 1_700_000_000_000_000_000n;
const ms = (n: number): bigint => T0 + BigInt(n) * 1_000_000n;
const ab = buildFrame({ ip: { src: '10.0.0.1', dst: '10.0.0.2' }, udp: { sport: 5000, dport: 53 }, payload: 'q' });
const ba = buildFrame({ ip: { src: '10.0.0.2', dst: '10.0.0.1' }, udp: { sport: 53, dport: 5000 }, payload: 'r' });
const arp = buildFrame({ ethType: 0x0806, payload: new Uint8Array(28) });
const rec = (t: bigint, port: number, data: Uint8Array): CaptureRecord => ({ timeNs: t, port, data, origLen: data.length });

describe('replayRecords', () => {
  const records = [rec(ms(0), 1, ab), rec(ms(500), 2, ba), rec(ms(500), 3, arp), rec(ms(3500), 2, ba)];
  const rows = replayRecords(parsePolicy(POLICY, 'p.flows'), records);

  it('one row per packet with index, time, port, last lookup and outputs', () => {
    expect(rows.map((r) => r.index)).toEqual([1, 2, 3, 4]);
    expect(rows.map((r) => r.timeMs)).toEqual([0, 500, 500, 3500]);
    expect(rows.map((r) => r.inPort)).toEqual([1, 2, 3, 2]);
    expect(rows[0]!.ct).toEqual({ state: CS_NEW | CS_TRACKED, zone: 3, mark: 0, label: 0n });
    expect(rows[0]!.outputs.map((o) => o.port)).toEqual([2]);
    expect(rows[1]!.ct).toEqual({ state: CS_ESTABLISHED | CS_REPLY_DIR | CS_TRACKED, zone: 3, mark: 7, label: 0n });
    expect(rows[1]!.outputs.map((o) => o.port)).toEqual([PORT_CONTROLLER, 1]);
    expect(rows[2]!.ct).toBeNull();
    expect(rows[2]!.outputs).toEqual([]);
    // the connection used the 2 s timeout policy (udp_multiple after the reply at 0.5 s): gone at 3.5 s, so the reply is new again
    expect(rows[3]!.ct!.state).toBe(CS_NEW | CS_TRACKED);
    expect(rows[0]!.ctCalls).toBeUndefined(); // the untraced pipeline
    const traced = replayRecords(parsePolicy(POLICY, 'p.flows'), records, { trace: true });
    expect(traced[0]!.ctCalls!.map((c) => c.table)).toEqual([1, -1]);
    expect(traced.map((r) => ({ ...r, ctCalls: undefined, trace: undefined }))).toEqual(rows.map((r) => ({ ...r, ctCalls: undefined, trace: undefined })));
  });

  it('--in-port overrides the capture port', () => {
    const r = replayRecords(parsePolicy(POLICY), records.slice(0, 1), { inPort: 9 });
    expect(r[0]!.inPort).toBe(9);
    expect(r[0]!.outputs).toEqual([]); // in_port=1 flow no longer matches
  });

  it('text form is aligned with a header; JSON has display ct_state and hex mark/label', () => {
    const lines = formatReplayText(rows);
    expect(lines[0]).toMatch(/^#\s+timestamp\s+in_port\s+ct_state\s+ct_zone\s+ct_mark\s+ct_label\s+outputs$/);
    expect(lines).toHaveLength(5);
    const col = lines[0]!.indexOf('ct_state');
    expect(lines[1]!.slice(col).startsWith('new|trk')).toBe(true);
    expect(lines[2]!.slice(col).startsWith('est|rpl|trk')).toBe(true);
    expect(lines[2]!.endsWith('controller,1')).toBe(true);
    expect(lines[3]!.endsWith('drop')).toBe(true);
    const j = replayRowJson(rows[1]!);
    expect(j).toMatchObject({ index: 2, in_port: 2, ct_state: 'est|rpl|trk', ct_zone: 3, ct_mark: '0x7', ct_label: '0x0', time_ms: 500 });
    expect(j.outputs).toEqual([{ port: 'controller', ct_state: 'est|rpl|trk' }, { port: '1', ct_state: 'est|rpl|trk' }]);
    expect(JSON.parse(JSON.stringify(j))).toEqual(j);
  });
});

describe('virtual clock', () => {
  it('is relative to the first packet, in whole ms, and never goes backwards', () => {
    const r = [rec(ms(10), 1, ab), rec(ms(10) + 1_999_999n, 1, ab), rec(ms(5), 1, ab), rec(ms(20), 1, ab)];
    expect(virtualTimes(r)).toEqual([0, 1, 1, 10]);
    expect(virtualTimes([])).toEqual([]);
  });
  it('timestamps print as seconds.nanoseconds', () => {
    expect(formatTimestamp(1_700_000_000_000_000_042n)).toBe('1700000000.000000042');
  });
});
