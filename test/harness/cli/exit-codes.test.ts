/**
 * The exit-code scheme of harness/cli/command.ts (docs/exit-codes.md): every CTO_* code in the
 * source is classified on purpose, cause chains are classified by their innermost code, an
 * internal error says where to report it and shows a stack only with CTOFFLOAD_DEBUG=1, and every
 * command's --help documents the codes. Each code is then produced by a real command.
 */
import { readdirSync, readFileSync, statSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  classifyCode, classifyError, EXIT_ENVIRONMENT, EXIT_INTERNAL, EXIT_USAGE, InterruptedError, isClassified, joinOptionValues, reportError, type CliIo,
} from '../../../harness/cli/command.js';
import { COMMANDS } from '../../../harness/cli/commands.js';
import { runConformanceCli } from '../../../harness/cli/conformance.js';
import { main } from '../../../harness/cli/main.js';
import { CtoffloadError } from '../../../model/errors.js';
import { DefectTarget, estAfterRstBecomesNew, POLICY } from '../runner/fake-target.js';

const ROOT = join(import.meta.dirname, '../../..');
const dir = mkdtempSync(join(tmpdir(), 'cto-exit-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const policyFile = join(dir, 'p.flows');
writeFileSync(policyFile, POLICY.text);

function io(): CliIo & { o: string; e: string } {
  const x = { o: '', e: '', out: (s: string) => void (x.o += s), err: (s: string) => void (x.e += s) };
  return x;
}

function sources(d: string, out: string[] = []): string[] {
  for (const n of readdirSync(d)) {
    const p = join(d, n);
    if (statSync(p).isDirectory()) sources(p, out);
    else if (n.endsWith('.ts')) out.push(p);
  }
  return out;
}

describe('the exit-code table', () => {
  it('classifies every CTO_* code thrown anywhere in the source on purpose', () => {
    const codes = new Set<string>();
    for (const folder of ['model', 'offload', 'p4', 'harness']) {
      for (const f of sources(join(ROOT, folder))) for (const m of readFileSync(f, 'utf8').matchAll(/'(CTO_[A-Z0-9_]*[A-Z0-9])'/g)) codes.add(m[1]!);
    }
    expect(codes.size).toBeGreaterThan(50);
    const missing = [...codes].filter((c) => !isClassified(c));
    expect(missing, 'add these codes to USAGE_CODES, ENVIRONMENT_CODES or INTERNAL_CODES in harness/cli/command.ts').toEqual([]);
  });

  it('input errors are 2, target and environment failures 3, misuse of an object (a bug) 4', () => {
    expect(classifyCode('CTO_FLOW_PARSE')).toBe('usage');
    expect(classifyCode('CTO_TRAFFIC_OPTIONS')).toBe('usage');
    expect(classifyCode('CTO_TIME_RANGE')).toBe('usage');
    expect(classifyCode('CTO_REPORT_DIR')).toBe('usage');
    expect(classifyCode('CTO_OVS_POLICY')).toBe('usage');
    expect(classifyCode('CTO_OVS_EXIT')).toBe('environment');
    expect(classifyCode('CTO_BMV2_TIMEOUT')).toBe('environment');
    expect(classifyCode('CTO_REPORT_WRITE')).toBe('environment');
    expect(classifyCode('CTO_OVS_STATE')).toBe('internal');
    expect(classifyCode('CTO_INTERRUPTED')).toBe('interrupted');
    expect(classifyCode('ENOSPC')).toBe('environment');
    expect(classifyCode('EACCES')).toBe('internal'); // an unwrapped errno is our bug: it names no path
  });

  it('the innermost CTO_* code of a cause chain decides', () => {
    const policy = new CtoffloadError('CTO_OVS_POLICY', 'OVS rejected p.flows');
    const start = new CtoffloadError('CTO_OVS_START', 'ovsdb-server exited');
    expect(classifyError(new CtoffloadError('CTO_RUN_TARGET', 'rejected', { cause: policy }))).toBe('usage');
    expect(classifyError(new CtoffloadError('CTO_RUN_TARGET', 'cannot start', { cause: start }))).toBe('environment');
    expect(classifyError(new CtoffloadError('CTO_RUN_TARGET', 'cannot start', { cause: Object.assign(new Error('spawn E2BIG'), { code: 'E2BIG' }) }))).toBe('environment');
    expect(classifyError(new TypeError('x is undefined'))).toBe('internal');
    expect(classifyError(Object.assign(new Error('write ENOSPC'), { code: 'ENOSPC' }))).toBe('environment');
  });

  it('an interruption decides whatever it cut short, and carries its signal\'s code (130/143)', () => {
    const term = new InterruptedError(143, 'interrupted: stopped before the next packet, target closed');
    expect(classifyError(term)).toBe('interrupted');
    expect(classifyError(new CtoffloadError('CTO_RUN_TARGET', 'cannot start', { cause: term }))).toBe('interrupted');
    const x = io();
    expect(reportError('replay', term, x)).toBe(143);
    expect(x.e).toBe('ctoffload replay: interrupted: stopped before the next packet, target closed\n');
    expect(reportError('replay', new CtoffloadError('CTO_RUN_TARGET', 'cannot start', { cause: new InterruptedError(130, 'x') }), io())).toBe(130);
  });

  it('an internal error: message, where to report, a stack only with CTOFFLOAD_DEBUG=1', () => {
    const prev = process.env.CTOFFLOAD_DEBUG;
    try {
      delete process.env.CTOFFLOAD_DEBUG;
      let x = io();
      expect(reportError('replay', new TypeError('boom'), x)).toBe(EXIT_INTERNAL);
      expect(x.e).toContain('ctoffload replay: internal error: TypeError: boom');
      expect(x.e).toContain('issue tracker');
      expect(x.e).toContain('CTOFFLOAD_DEBUG=1');
      expect(x.e).not.toMatch(/\n\s+at /);
      process.env.CTOFFLOAD_DEBUG = '1';
      x = io();
      expect(reportError('replay', new TypeError('boom'), x)).toBe(EXIT_INTERNAL);
      expect(x.e).toMatch(/\n\s+at /);
    } finally {
      if (prev === undefined) delete process.env.CTOFFLOAD_DEBUG;
      else process.env.CTOFFLOAD_DEBUG = prev;
    }
  });

  it('every command and the top-level help document the exit codes', async () => {
    for (const c of COMMANDS) {
      const x = io();
      expect(await c.run(['--help'], x), c.name).toBe(0);
      expect(x.o, c.name).toMatch(/Exit status: 0 /);
      for (const code of ['1 ', '2 ', '3 ', '4 ', '130', '143']) expect(x.o, `${c.name} --help: ${code}`).toContain(code);
    }
    const y = io();
    await main(['--help'], y);
    expect(y.o).toContain('docs/exit-codes.md');
  });

  it('a negative number after an option is its value, not an "ambiguous" option', () => {
    expect(joinOptionValues(['--in-port', '-1', '--json'], ['--in-port'])).toEqual(['--in-port=-1', '--json']);
    expect(joinOptionValues(['--seed', '-5'], ['--in-port'])).toEqual(['--seed', '-5']);
  });
});

describe('each exit code from a real command', () => {
  const fake = (defect: boolean) => ({
    progress: false,
    targetFactory: async (n: string) => (n === 'fake' ? async () => DefectTarget.model(defect ? estAfterRstBecomesNew : (_s, v) => v) : null),
  });

  it('0 agree, 1 disagree', async () => {
    let x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '5', '--seed', '1'], x, fake(false))).toBe(0);
    x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '300', '--seed', '5'], x, fake(true))).toBe(1);
    expect(x.o).toContain('FAILED');
  });

  it('2 for usage and input errors, with the place named', async () => {
    const x = io();
    expect(await main(['replay', '--policy', policyFile, '--pcap', join(dir, 'none.pcap')], x)).toBe(EXIT_USAGE);
    expect(x.e).toContain('none.pcap');
    expect(x.e).toContain('ENOENT');
  });

  it('3 when the tool is missing or the target dies at start', async () => {
    const path = process.env.PATH;
    process.env.PATH = join(dir, 'empty-path');
    try {
      const x = io();
      expect(await runConformanceCli(['--target', 'ovs', '--policy', policyFile], x)).toBe(EXIT_ENVIRONMENT);
      expect(x.e).toContain('ovs-vswitchd not found');
    } finally {
      process.env.PATH = path;
    }
    const dead = { progress: false, targetFactory: async () => async () => { throw new CtoffloadError('CTO_OVS_START', 'ovs-vswitchd exited during start-up (1)'); } };
    const y = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '2'], y, dead)).toBe(EXIT_ENVIRONMENT);
    expect(y.e).toContain('cannot start the target');
  });

  it('4 for a bug (an error without a code), no stack trace', async () => {
    const buggy = { progress: false, targetFactory: async () => async () => { const t = DefectTarget.model((_s, v) => v); t.send = async () => (undefined as unknown as never); return t; } };
    const crash = { progress: false, targetFactory: async () => { throw new TypeError('cannot read properties of undefined'); } };
    const x = io();
    expect(await runConformanceCli(['--target', 'fake', '--policy', policyFile, '--runs', '2'], x, crash)).toBe(EXIT_INTERNAL);
    expect(x.e).toContain('internal error: TypeError: cannot read properties of undefined');
    expect(x.e).not.toMatch(/\n\s+at /);
    void buggy;
  });
});
