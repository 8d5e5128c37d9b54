/**
 * Reports of a run with a known defect: report.json matches its schema, junit.xml is well-formed
 * JUnit (tiny checker, plus xmllint when installed), the pcapng reads back with model/packet's
 * reader with both verdicts in each packet comment, the HTML holds the counterexample and
 * nothing external, and an interrupted run still writes everything it found.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readCapture } from '../../../model/packet/index.js';
import { checkReport, htmlEscape, renderJunit, xmlEscape, type ConformanceReport } from '../../../harness/report/index.js';
import { runConformance } from '../../../harness/runner/index.js';
import { findTool } from '../../support/tools.js';
import { DefectTarget, estAfterRstBecomesNew, modelTarget, POLICY } from '../runner/fake-target.js';
import { checkXml } from './xml-check.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'cto-report-'));
  dirs.push(d);
  return d;
};
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const base = { policy: POLICY, reference: modelTarget, target: async () => DefectTarget.model(estAfterRstBecomesNew), runs: 200, seed: 42 } as const;

describe('report files of a failing run', () => {
  const dir = tmp();
  let report: ConformanceReport;

  it('writes report.json that matches the schema', async () => {
    const r = await runConformance({ ...base, reportDir: dir, command: 'ctoffload conformance --target fake --policy test.flows --seed 42' });
    for (const f of ['report.json', 'report.html', 'junit.xml', 'traces.jsonl', 'counterexample-1.json', 'counterexample-1.pcapng']) {
      expect(existsSync(join(dir, f)), f).toBe(true);
    }
    report = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ConformanceReport;
    expect(checkReport(report)).toEqual([]);
    expect(report.status).toBe('failed');
    expect(report.finishedAt).toBeDefined();
    expect(report.properties).toHaveLength(1);
    const p = report.properties[0]!;
    expect(p.counterexample!.path).toBe(r.counterexample!.path);
    expect(p.counterexample!.replayFile).toBe(join(dir, 'counterexample-1.json'));
    expect(p.versions.fake).toBeDefined();
    expect(p.counts.byKind['ct-state']).toBe(1);
    expect(report.tool.fastCheck).toMatch(/^\d+\.\d+\.\d+$/);
    // traces.jsonl: one line per evaluated trace, search and shrink.
    const lines = readFileSync(join(dir, 'traces.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { phase: string });
    expect(lines.filter((l) => l.phase === 'search')).toHaveLength(p.counts.traces);
    expect(lines.filter((l) => l.phase === 'shrink')).toHaveLength(p.shrink.traces);
    // checkReport catches a broken report.
    expect(checkReport({ ...report, properties: [{ ...p, counts: null }] }).length).toBeGreaterThan(0);
  });

  it('writes well-formed JUnit XML with the failure and its diff', () => {
    const xml = readFileSync(join(dir, 'junit.xml'), 'utf8');
    const { problems, elements } = checkXml(xml);
    expect(problems).toEqual([]);
    expect(elements[0]!.name).toBe('testsuites');
    expect(elements[0]!.attrs.failures).toBe('1');
    const suite = elements.find((x) => x.name === 'testsuite')!;
    expect(suite.attrs.tests).toBe('1');
    const failure = elements.find((x) => x.name === 'failure')!;
    expect(failure.attrs.type).toBe('ct-state');
    expect(failure.text).toContain('expected: ');
    expect(failure.text).toContain(`--path ${report.properties[0]!.counterexample!.path}`);
    // the state before the failing packet travels with the failure, for CI logs
    expect(failure.text).toContain(`state just before packet ${report.properties[0]!.counterexample!.failingStep}:`);
    expect(failure.text).toContain('reference model:');
    expect(elements.some((x) => x.name === 'property' && x.attrs.name === 'seed' && x.attrs.value === '42')).toBe(true);
    if (findTool('xmllint')) execFileSync('xmllint', ['--noout', join(dir, 'junit.xml')]);
  });

  it('writes the counterexample as pcapng, one interface per port, both verdicts per packet', () => {
    const cx = report.properties[0]!.counterexample!;
    const recs = readCapture(readFileSync(join(dir, 'counterexample-1.pcapng')), 'counterexample-1.pcapng');
    expect(recs).toHaveLength(cx.packets.length);
    recs.forEach((r, i) => {
      const p = cx.packets[i]!;
      expect(Buffer.from(r.data).toString('hex')).toBe(p.frame);
      expect(r.port).toBe(p.port);
      expect(r.timeNs).toBe(BigInt(p.time) * 1_000_000n);
      expect(r.comment).toContain(`expected (model): ${p.expected!.text} / observed (fake): ${p.observed!.text}`);
    });
    expect(recs[recs.length - 1]!.comment).toContain('DIFF ct-state');
    expect(recs[cx.failingStep]!.comment).toContain(`state just before packet ${cx.failingStep}:`);
    expect(recs[0]!.comment).not.toContain('state just before');
  });

  it('writes a self-contained HTML page with the counterexample', () => {
    const html = readFileSync(join(dir, 'report.html'), 'utf8');
    const cx = report.properties[0]!.counterexample!;
    expect(html).toMatch(/^<!DOCTYPE html>/);
    expect(html).toContain('Counterexample 1');
    expect(html).toContain(htmlEscape(cx.differences[0]!.message));
    expect(html).toContain(htmlEscape(cx.replay));
    expect(html).toContain('<svg');
    expect(html).not.toMatch(/<script|<link|<[a-z][^>]*\s(src|href)=/i);
    expect((html.match(/<tr class="bad">/g) ?? []).length).toBe(1);
    // the state just before the failing packet: the model's connections, the fake's lack of a snapshot
    const st = cx.state!;
    expect(st.step).toBe(cx.failingStep);
    expect(st.reference.name).toBe('model');
    expect(st.reference.sections[0]!.title).toMatch(/^conntrack \(model, t=\d+ ms\): \d+ connection/);
    expect(st.target.note).toBe('fake cannot report its state');
    expect(html).toContain(`State just before packet ${cx.failingStep}`);
    for (const l of st.reference.sections[0]!.lines) expect(html).toContain(htmlEscape(l));
  });

  it('writes a counterexample file that holds the scenario, seed and path', () => {
    const f = JSON.parse(readFileSync(join(dir, 'counterexample-1.json'), 'utf8')) as Record<string, unknown>;
    const cx = report.properties[0]!.counterexample!;
    expect(f).toMatchObject({ schema: 'ctoffload-counterexample/1', seed: 42, path: cx.path, final: true });
    expect(f.scenario).toEqual(cx.scenario);
  });
});

describe('interrupted run', () => {
  it('writes every report with what was found before the abort', async () => {
    const dir = tmp();
    const ac = new AbortController();
    const r = await runConformance({
      ...base, reportDir: dir, signal: ac.signal,
      onProgress: (p) => {
        if (p.phase === 'shrink' && p.shrinkSteps >= 2) ac.abort();
      },
    });
    expect(r.status).toBe('interrupted');
    const rep = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ConformanceReport;
    expect(checkReport(rep)).toEqual([]);
    expect(rep.status).toBe('interrupted');
    expect(rep.properties[0]!.counterexample!.final).toBe(false);
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('shrinking stopped early');
    expect(checkXml(readFileSync(join(dir, 'junit.xml'), 'utf8')).problems).toEqual([]);
    expect(existsSync(join(dir, 'counterexample-1.pcapng'))).toBe(true);
  });

  it('marks a run interrupted during the search as skipped in JUnit', async () => {
    const dir = tmp();
    const ac = new AbortController();
    const r = await runConformance({ ...base, target: modelTarget, reportDir: dir, signal: ac.signal, onProgress: (p) => p.traces >= 5 && ac.abort() });
    expect(r.status).toBe('interrupted');
    expect(r.counts.traces).toBeLessThan(200);
    const { elements } = checkXml(readFileSync(join(dir, 'junit.xml'), 'utf8'));
    expect(elements.find((x) => x.name === 'skipped')?.attrs.message).toMatch(/interrupted after \d+ of 200 traces/);
  });
});

describe('a run that cannot start', () => {
  it('still writes reports that say why', async () => {
    const dir = tmp();
    await expect(runConformance({ ...base, reportDir: dir, target: () => Promise.reject(new Error('ovs-vswitchd exploded')) })).rejects.toMatchObject({ code: 'CTO_RUN_TARGET' });
    const rep = JSON.parse(readFileSync(join(dir, 'report.json'), 'utf8')) as ConformanceReport;
    expect(checkReport(rep)).toEqual([]);
    expect(rep.status).toBe('error');
    expect(rep.error).toContain('ovs-vswitchd exploded');
    const { problems, elements } = checkXml(readFileSync(join(dir, 'junit.xml'), 'utf8'));
    expect(problems).toEqual([]);
    expect(elements.find((x) => x.name === 'error')?.attrs.message).toContain('ovs-vswitchd exploded');
    expect(readFileSync(join(dir, 'report.html'), 'utf8')).toContain('ovs-vswitchd exploded');
  });
});

describe('escaping', () => {
  it('xmlEscape makes any string safe for XML 1.0 text and attributes', () => {
    const nasty = `a<b>&"c'\u0001\u001f]]>\ud800 ok`;
    const xml = `<r a="${xmlEscape(nasty)}">${xmlEscape(nasty)}</r>`;
    const { problems, elements } = checkXml(xml);
    expect(problems).toEqual([]);
    expect(elements[0]!.attrs.a).toBe(`a<b>&"c'\ufffd\ufffd]]>\ufffd ok`);
  });

  it('renderJunit escapes property names and messages', () => {
    const rep = JSON.parse(readFileSync(join(dirs[0]!, 'report.json'), 'utf8')) as ConformanceReport;
    rep.properties[0]!.name = 'policy <&> "x"';
    rep.properties[0]!.counterexample!.differences[0]!.message = 'x < y & z';
    expect(checkXml(renderJunit(rep)).problems).toEqual([]);
  });
});
