import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runGenerate } from '../../../harness/cli/generate.js';
import { P4InfoIndex } from '../../../p4/index.js';
import { describeWithTools, P4C_TOOL } from '../../support/tools.js';

const dir = mkdtempSync(join(tmpdir(), 'cto-cli-gen-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const POLICY = `table=0,priority=10,ip,actions=ct(zone=3,table=1)
table=0,priority=0,actions=drop
table=1,priority=10,ct_state=+trk+new,ip,in_port=1,actions=ct(commit,zone=3),output:2
table=1,priority=10,ct_state=+trk+est,actions=output:2
`;
writeFileSync(join(dir, 'p.flows'), POLICY);

async function run(args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runGenerate(args, { out: (s) => (out += s), err: (s) => (err += s) });
  return { code, out, err };
}

describe('ctoffload generate', () => {
  it('writes the program, entries and manifest (--no-p4c)', async () => {
    const out = join(dir, 'a');
    const r = await run(['--policy', join(dir, 'p.flows'), '--out', out, '--no-p4c']);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/generated 2 policy table\(s\) over 2 stage\(s\), 1 conntrack table\(s\) \(zones: 3\), 4 static entries/);
    expect(readFileSync(join(out, 'ctoffload.p4'), 'utf8')).toContain('table conntrack_s0');
    const entries = JSON.parse(readFileSync(join(out, 'ctoffload.entries.json'), 'utf8'));
    expect(entries).toHaveLength(4);
    expect(entries[0].spec.params).toEqual({ zone: '3', next_table: '1' });
    const manifest = JSON.parse(readFileSync(join(out, 'ctoffload.manifest.json'), 'utf8'));
    expect(manifest.conntrackTables).toEqual([{ table: 'CtIngress.conntrack_s0', stage: 0, zoneSet: 'conntrack', zones: [3], size: 65536 }]);
    expect(existsSync(join(out, 'ctoffload.json'))).toBe(false);
  });

  it('production build by default; --probe writes the observation build and says it is for testing', async () => {
    const prod = join(dir, 'prod');
    const r = await run(['--policy', join(dir, 'p.flows'), '--out', prod, '--no-p4c']);
    expect(r.code).toBe(0);
    expect(r.out).toContain('production build (no probe)');
    expect(r.out).not.toMatch(/WARNING/);
    expect(readFileSync(join(prod, 'ctoffload.p4'), 'utf8')).not.toContain('hdr.probe');
    const pm = JSON.parse(readFileSync(join(prod, 'ctoffload.manifest.json'), 'utf8'));
    expect(pm.build).toBe('production');
    expect(pm.config.probe).toBe(false);
    expect(pm.buildNote).toBeUndefined();

    const obs = join(dir, 'obs');
    const r2 = await run(['--policy', join(dir, 'p.flows'), '--out', obs, '--probe', '--no-p4c']);
    expect(r2.code).toBe(0);
    expect(r2.out).toMatch(/WARNING: observation build \(probe on\), FOR TESTING ONLY/);
    expect(readFileSync(join(obs, 'ctoffload.p4'), 'utf8')).toContain('hdr.lookups.push_front(1);');
    const om = JSON.parse(readFileSync(join(obs, 'ctoffload.manifest.json'), 'utf8'));
    expect(om.build).toBe('observation');
    expect(om.config.probe).toBe(true);
    expect(om.buildNote).toMatch(/FOR TESTING ONLY/);
    // the config key does the same; --probe wins over a config that says false
    writeFileSync(join(dir, 'probe-off.json'), '{"probe": false}');
    writeFileSync(join(dir, 'probe-on.json'), '{"probe": true}');
    expect((await run(['--policy', join(dir, 'p.flows'), '--out', join(dir, 'obs2'), '--config', join(dir, 'probe-on.json'), '--no-p4c'])).out).toMatch(/WARNING/);
    expect((await run(['--policy', join(dir, 'p.flows'), '--out', join(dir, 'obs3'), '--config', join(dir, 'probe-off.json'), '--probe', '--no-p4c'])).out).toMatch(/WARNING/);
  });

  it('usage errors and bad inputs exit 2 with a message naming the input', async () => {
    expect((await run(['--out', dir])).code).toBe(2);
    expect((await run(['--policy', 'x', '--out', dir, '--bogus'])).err).toMatch(/unknown argument '--bogus'/);
    const bad = join(dir, 'bad.flows');
    writeFileSync(bad, 'table=0,actions=ct(zone=1)\n');
    const r = await run(['--policy', bad, '--out', join(dir, 'b'), '--no-p4c']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/bad\.flows:1:\d+: .*must match ip or ipv6/);
    const cfg = join(dir, 'cfg.json');
    writeFileSync(cfg, '{"cpuPort": 600}');
    const r2 = await run(['--policy', join(dir, 'p.flows'), '--out', join(dir, 'c'), '--config', cfg, '--no-p4c']);
    expect(r2.code).toBe(2);
    expect(r2.err).toMatch(/cfg\.json: cpuPort: must be in 1\.\.510/);
    const r3 = await run(['--policy', join(dir, 'missing.flows'), '--out', join(dir, 'd')]);
    expect(r3.code).toBe(2);
    expect(r3.err).toMatch(/missing\.flows: cannot read: ENOENT/);
    expect((await run(['--help'])).out).toMatch(/^usage: ctoffload generate/);
  });
});

describeWithTools('ctoffload generate with p4c-bm2-ss', [P4C_TOOL], () => {
  it('also writes bmv2 JSON and P4Info (binary and text)', async () => {
    const out = join(dir, 'full');
    writeFileSync(join(dir, 'cfg2.json'), JSON.stringify({ cpuPort: 100, probe: false }));
    const r = await run([`--policy=${join(dir, 'p.flows')}`, `--out=${out}`, `--config=${join(dir, 'cfg2.json')}`]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    for (const f of ['ctoffload.json', 'ctoffload.p4info.bin', 'ctoffload.p4info.txtpb']) expect(existsSync(join(out, f))).toBe(true);
    const idx = P4InfoIndex.from(readFileSync(join(out, 'ctoffload.p4info.bin')));
    expect(idx.table('conntrack_s0').supportsIdleTimeout).toBe(true);
    expect(readFileSync(join(out, 'ctoffload.p4info.txtpb'), 'utf8')).toContain('name: "CtIngress.conntrack_s0"');
  });
});
