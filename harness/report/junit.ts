/**
 * junit.xml: one <testsuite> per property (policy × target), one <testcase> per property run
 * (its traces counted in the name and in <properties>), a <failure> carrying the counterexample's
 * diff and replay command when the target disagreed, an <error> for a target error or a run that
 * could not complete, <skipped> for an interrupted run without a finding. Follows the
 * de-facto JUnit schema read by Jenkins/GitLab (testsuites/testsuite/testcase, failure/error/
 * skipped with `message` and `type`, times in seconds).
 */
import type { ConformanceReport, PropertyReport } from './schema.js';
import { stateTextLines } from './state-text.js';

/** XML 1.0 text/attribute escaping; characters XML 1.0 cannot carry become U+FFFD. */
export function xmlEscape(s: string): string {
  return s
    .replace(/[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]/g, '\ufffd')
    .replace(/[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g, '\ufffd')
    .replace(/&/g, '&amp;')
    .replace(/</g, '&lt;')
    .replace(/>/g, '&gt;')
    .replace(/"/g, '&quot;')
    .replace(/'/g, '&apos;');
}

const secs = (ms: number): string => (ms / 1000).toFixed(3);

function failureBody(p: PropertyReport): string {
  const c = p.counterexample!;
  const lines = [
    `${p.target} disagrees with ${p.reference} at packet ${c.failingStep} of the ${c.final ? 'shrunk' : 'not fully shrunk'} counterexample (seed ${c.seed}, path ${c.path}).`,
    `replay: ${c.replay}`,
    '',
    ...c.differences.map((d) => `${d.kind}: ${d.message}`),
    '',
    'packets (expected | observed):',
    ...c.packets.map((pk) => `  ${pk.index} t=${pk.time} in_port=${pk.port} ${pk.label ?? ''}\n      expected: ${pk.expected?.text ?? 'error'}\n      observed: ${pk.observed?.text ?? 'error'}`),
    '',
    ...(c.state ? [...stateTextLines(c.state), ''] : []),
    c.description,
  ];
  return lines.join('\n');
}

function testcase(p: PropertyReport): string {
  const name = `${p.name} (${p.counts.traces} traces, ${p.counts.packets} packets)`;
  const open = `    <testcase classname="${xmlEscape(`conformance.${p.target}`)}" name="${xmlEscape(name)}" time="${secs(p.timing.elapsedMs)}">`;
  let body = '';
  const c = p.counterexample;
  if (c) {
    const kind = c.differences[0]?.kind ?? 'disagreement';
    const msg = c.differences[0]?.message ?? 'disagreement';
    const tag = kind === 'target-error' ? 'error' : 'failure';
    body = `\n      <${tag} message="${xmlEscape(msg)}" type="${xmlEscape(kind)}">${xmlEscape(failureBody(p))}</${tag}>\n    `;
  } else if (p.status === 'error') {
    body = `\n      <error message="${xmlEscape(p.error ?? 'error')}" type="run-error">${xmlEscape(p.error ?? '')}</error>\n    `;
  } else if (p.status === 'interrupted' || p.status === 'running') {
    body = `\n      <skipped message="${xmlEscape(`${p.status} after ${p.counts.traces} of ${p.config.runs} traces`)}"/>\n    `;
  }
  return `${open}${body}</testcase>`;
}

function suite(p: PropertyReport, timestamp: string): string {
  const failures = p.counterexample && p.counterexample.differences[0]?.kind !== 'target-error' ? 1 : 0;
  const errors = (p.counterexample && !failures) || (!p.counterexample && p.status === 'error') ? 1 : 0;
  const skipped = !p.counterexample && (p.status === 'interrupted' || p.status === 'running') ? 1 : 0;
  const props: [string, string | number][] = [
    ['target', p.target], ['reference', p.reference], ['policy', p.policy.source], ['seed', p.config.seed], ['runs', p.config.runs],
    ['jobs', p.config.jobs], ['traces', p.counts.traces], ['packets', p.counts.packets], ['agreements', p.counts.agreements],
    ['disagreements', p.counts.disagreements], ['packetsPerSecond', p.timing.packetsPerSecond],
    ...Object.entries(p.counts.exceptionsApplied).map(([k, v]) => [`exception.${k}`, v] as [string, number]),
    ...Object.entries(p.versions).flatMap(([side, v]) => Object.entries(v).map(([k, x]) => [`version.${side}.${k}`, x] as [string, string])),
  ];
  if (p.config.path) props.push(['path', p.config.path]);
  if (p.config.shard) props.push(['shard', `${p.config.shard.index}/${p.config.shard.count}`]);
  if (p.shards) props.push(['shards', p.shards.length]);
  if (p.configHash) props.push(['configHash', p.configHash]);
  return [
    `  <testsuite name="${xmlEscape(p.name)}" tests="1" failures="${failures}" errors="${errors}" skipped="${skipped}" time="${secs(p.timing.elapsedMs)}" timestamp="${xmlEscape(timestamp)}">`,
    '    <properties>',
    ...props.map(([k, v]) => `      <property name="${xmlEscape(k)}" value="${xmlEscape(String(v))}"/>`),
    '    </properties>',
    testcase(p),
    `    <system-out>${xmlEscape(`${p.counts.traces} traces, ${p.counts.packets} packets, ${p.counts.agreements} agreeing packets, ${p.counts.disagreements} disagreeing traces; shrink: ${p.shrink.traces} traces, ${p.shrink.steps} steps`)}</system-out>`,
    '  </testsuite>',
  ].join('\n');
}

export function renderJunit(r: ConformanceReport): string {
  const ps = r.properties;
  const failures = ps.filter((p) => p.counterexample && p.counterexample.differences[0]?.kind !== 'target-error').length;
  const errors = ps.filter((p) => (p.counterexample && p.counterexample.differences[0]?.kind === 'target-error') || (!p.counterexample && p.status === 'error')).length;
  const skipped = ps.filter((p) => !p.counterexample && (p.status === 'interrupted' || p.status === 'running')).length;
  const time = ps.reduce((t, p) => t + p.timing.elapsedMs, 0);
  // A run that could not start has no property: report it as one erroring suite.
  const startError = ps.length === 0 && r.error
    ? [`  <testsuite name="ctoffload conformance" tests="1" failures="0" errors="1" skipped="0" time="0">`,
      `    <testcase classname="conformance" name="start"><error message="${xmlEscape(r.error)}" type="run-error">${xmlEscape(r.error)}</error></testcase>`,
      '  </testsuite>']
    : [];
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<testsuites name="ctoffload conformance" tests="${ps.length + (startError.length ? 1 : 0)}" failures="${failures}" errors="${errors + (startError.length ? 1 : 0)}" skipped="${skipped}" time="${secs(time)}">`,
    ...startError,
    ...ps.map((p) => suite(p, r.startedAt.replace(/\.\d+Z$/, ''))),
    '</testsuites>',
    '',
  ].join('\n');
}
