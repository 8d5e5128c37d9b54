import { mkdtempSync, rmSync, writeFileSync, appendFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodePacketIn2 } from '../../../../harness/targets/ovs/openflow.js';
import { jsonValueEnd } from '../../../../harness/targets/ovs/unixctl.js';
import { PcapTail } from '../../../../harness/targets/ovs/pcap-tail.js';

function prop(type: number, value: Buffer): Buffer {
  const len = 4 + value.length;
  const b = Buffer.alloc((len + 7) & ~7);
  b.writeUInt16BE(type, 0);
  b.writeUInt16BE(len, 2);
  value.copy(b, 4);
  return b;
}

describe('decodePacketIn2', () => {
  it('reads data, table, userdata and the ct fields (ct_state masked, as OVS sends it)', () => {
    const meta = Buffer.concat([
      Buffer.from('8000000400000002', 'hex'), // OXM in_port = 2
      Buffer.from('0001d3080000002a000000ff', 'hex'), // NXM_NX_CT_STATE/mask: est|rpl|trk
      Buffer.from('0001d4020007', 'hex'), // ct_zone 7
      Buffer.from('0001d604000000ab', 'hex'), // ct_mark 0xab
      Buffer.from('0001d810000000000000000000000000000004d2', 'hex'), // ct_label 0x4d2
    ]);
    const cookie = Buffer.alloc(12);
    cookie.writeBigUInt64BE(0x1122334455667788n, 4);
    const body = Buffer.concat([
      prop(0, Buffer.from('aabbcc', 'hex')),
      prop(1, Buffer.from('00000040', 'hex')),
      prop(3, Buffer.from([5])),
      prop(4, cookie),
      prop(5, Buffer.from([1])),
      prop(6, meta),
      prop(7, Buffer.from('43544f4c05', 'hex')),
    ]);
    const p = decodePacketIn2(body);
    expect(p).toEqual({
      tableId: 5,
      cookie: 0x1122334455667788n,
      reason: 1,
      totalLen: 64,
      data: new Uint8Array([0xaa, 0xbb, 0xcc]),
      userdata: new Uint8Array([0x43, 0x54, 0x4f, 0x4c, 5]),
      inPort: 2,
      ctState: 0x2a,
      ctZone: 7,
      ctMark: 0xab,
      ctLabel: 0x4d2n,
    });
  });
  it('rejects a property running past the message', () => {
    expect(() => decodePacketIn2(Buffer.from('0000ff00', 'hex'))).toThrow(expect.objectContaining({ code: 'CTO_OVS_PROTOCOL' }));
  });
});

describe('jsonValueEnd', () => {
  it('finds the end of back-to-back JSON objects, strings with braces included', () => {
    const a = '{"id":0,"result":"a}{\\"b","error":null}';
    expect(jsonValueEnd(a + '{"id":1')).toBe(a.length);
    expect(jsonValueEnd('{"id":1')).toBe(-1);
    expect(jsonValueEnd('  ')).toBe(-1);
  });
});

describe('PcapTail', () => {
  it('returns complete records appended since the last poll', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cto-pcap-'));
    try {
      const f = join(dir, 'x.pcap');
      const gh = Buffer.alloc(24);
      // lib/pcap-file.c `ovs_pcap_write_header`: magic, version 2.4, snaplen 1518, Ethernet
      gh.writeUInt32LE(0xa1b2c3d4, 0);
      gh.writeUInt16LE(2, 4);
      gh.writeUInt16LE(4, 6);
      gh.writeUInt32LE(1518, 16);
      gh.writeUInt32LE(1, 20);
      writeFileSync(f, gh.subarray(0, 10)); // the header itself may arrive in pieces
      const t0 = new PcapTail(f);
      expect(t0.poll()).toEqual([]);
      t0.close();
      writeFileSync(f, gh);
      const rec = (bytes: number[]): Buffer => {
        const h = Buffer.alloc(16);
        h.writeUInt32LE(bytes.length, 8);
        h.writeUInt32LE(bytes.length, 12);
        return Buffer.concat([h, Buffer.from(bytes)]);
      };
      const t = new PcapTail(f);
      expect(t.poll()).toEqual([]);
      const r2 = rec([4, 5, 6]);
      appendFileSync(f, Buffer.concat([rec([1, 2]), r2.subarray(0, 18)]));
      expect(t.poll()).toEqual([new Uint8Array([1, 2])]);
      appendFileSync(f, r2.subarray(18));
      expect(t.poll()).toEqual([new Uint8Array([4, 5, 6])]);
      expect(t.poll()).toEqual([]);
      t.close();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('startWatchdog', () => {
  it('kills the daemons and removes the run dir once our end of its pipe closes', async () => {
    const { spawn } = await import('node:child_process');
    const { existsSync } = await import('node:fs');
    const { startWatchdog } = await import('../../../../harness/targets/ovs/process.js');
    const dir = mkdtempSync(join(tmpdir(), 'cto-wd-'));
    const victim = spawn('sleep', ['30'], { stdio: 'ignore' });
    const gone = new Promise((res) => victim.once('exit', (_c, sig) => res(sig)));
    const w = startWatchdog([victim.pid!], dir);
    const wExit = new Promise((res) => w.once('exit', res));
    w.stdin!.end(); // what the kernel does when Node dies
    expect(await gone).toBe('SIGKILL');
    await wExit;
    expect(existsSync(dir)).toBe(false);
  });
});
