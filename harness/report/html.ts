/**
 * report.html: one self-contained page (inline CSS and SVG, no script, no external asset):
 * summary, per-property results, exceptions applied, two small charts (disagreement kinds,
 * packets per second over time) and, for each counterexample, the packet timeline with the
 * two verdicts side by side, the differing packet highlighted and its differences listed, the
 * differing output bytes marked, the scenario and the replay command.
 */
import type { Difference } from '../compare/types.js';
import { neverHitReasons, unhitActions, unhitCtTables } from './coverage.js';
import { keyFieldSummary } from './key-coverage.js';
import type { ConformanceReport, PacketReport, PropertyReport, StateReport, StateSnapshot, VerdictReport } from './schema.js';

export function htmlEscape(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
const e = htmlEscape;

const CSS = `
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1d2330;background:#fafbfc}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #d8dde6;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
code{overflow-wrap:anywhere}
.nowrap code{overflow-wrap:normal;white-space:nowrap}
code,pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,monospace;font-size:12px}
pre{background:#f0f2f5;padding:8px;border-radius:4px;overflow-x:auto;white-space:pre-wrap}
table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #d8dde6;padding:3px 8px;text-align:left;vertical-align:top}
th{background:#eef1f5;font-weight:600}td.num{text-align:right;font-variant-numeric:tabular-nums}
.badge{display:inline-block;padding:1px 8px;border-radius:10px;color:#fff;font-weight:600;font-size:12px}
.passed{background:#2e7d32}.failed{background:#c62828}.interrupted{background:#ef6c00}.error{background:#6a1b9a}.running{background:#1565c0}
tr.bad td{background:#fdecea}tr.excused td{background:#fff8e1}tr.uncovered td{background:#fff3e0}tr.never td{background:#fdecea;font-weight:600}tr.cold td{background:#fff3e0}
.diff{color:#b71c1c}.exc{color:#8d6e00}.muted{color:#6b7280}
.side{display:grid;grid-template-columns:1fr 1fr;gap:12px}.side>div{background:#fff;border:1px solid #d8dde6;border-radius:4px;padding:6px 10px}
mark{background:#ffcdd2;color:#000}.charts{display:flex;gap:24px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #d8dde6;border-radius:6px;padding:10px 14px;margin:8px 0}
`;

function badge(s: string): string {
  return `<span class="badge ${e(s)}">${e(s)}</span>`;
}

/** Horizontal bar chart: one bar per label. */
export function barChart(title: string, data: [string, number][], width = 420, color = '#c62828'): string {
  if (data.length === 0) return `<figure><figcaption>${e(title)}</figcaption><p class="muted">none</p></figure>`;
  const max = Math.max(...data.map((d) => d[1]), 1);
  const row = 22;
  const lw = 130;
  const h = data.length * row + 10;
  const bars = data.map(([k, v], i) => {
    const w = Math.max(1, Math.round(((width - lw - 50) * v) / max));
    const y = 5 + i * row;
    return `<text x="${lw - 6}" y="${y + 14}" text-anchor="end" font-size="12">${e(k)}</text><rect x="${lw}" y="${y + 3}" width="${w}" height="14" fill="${color}" rx="2"/><text x="${lw + w + 4}" y="${y + 14}" font-size="12">${v}</text>`;
  });
  return `<figure><figcaption>${e(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${h}" role="img" aria-label="${e(title)}">${bars.join('')}</svg></figure>`;
}

/** Line chart of a rate over time, from cumulative (t ms, count) samples. */
export function rateChart(title: string, samples: { t: number; packets: number }[], width = 420, height = 160): string {
  // Rates over intervals of at least 500 ms: the final sample of a run can come a few ms after
  // the previous one, and a rate over a few ms is noise.
  const pts: [number, number][] = [];
  let a = samples[0];
  for (let i = 1; a && i < samples.length; i++) {
    const b = samples[i]!;
    if (b.t - a.t < 500) continue;
    pts.push([b.t / 1000, ((b.packets - a.packets) * 1000) / (b.t - a.t)]);
    a = b;
  }
  if (pts.length === 0) return `<figure><figcaption>${e(title)}</figcaption><p class="muted">run too short to chart</p></figure>`;
  const m = { l: 46, r: 10, t: 10, b: 26 };
  const xmax = Math.max(...pts.map((p) => p[0]), 1);
  const ymax = Math.max(...pts.map((p) => p[1]), 1);
  const x = (v: number): number => m.l + ((width - m.l - m.r) * v) / xmax;
  const y = (v: number): number => height - m.b - ((height - m.t - m.b) * v) / ymax;
  const line = pts.map((p, i) => `${i ? 'L' : 'M'}${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join('');
  const axes = `<line x1="${m.l}" y1="${height - m.b}" x2="${width - m.r}" y2="${height - m.b}" stroke="#888"/><line x1="${m.l}" y1="${m.t}" x2="${m.l}" y2="${height - m.b}" stroke="#888"/>`;
  const labels = `<text x="${m.l - 4}" y="${m.t + 10}" text-anchor="end" font-size="11">${Math.round(ymax)}</text><text x="${m.l - 4}" y="${height - m.b}" text-anchor="end" font-size="11">0</text><text x="${width - m.r}" y="${height - 8}" text-anchor="end" font-size="11">${xmax.toFixed(0)} s</text><text x="${m.l}" y="${height - 8}" font-size="11">0</text>`;
  return `<figure><figcaption>${e(title)}</figcaption><svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" role="img" aria-label="${e(title)}">${axes}${labels}<path d="${line}" fill="none" stroke="#1565c0" stroke-width="2"/></svg></figure>`;
}

function fmtMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : ms < 120_000 ? `${(ms / 1000).toFixed(1)} s` : `${(ms / 60000).toFixed(1)} min`;
}

function summaryTable(ps: readonly PropertyReport[]): string {
  const head = ['property', 'status', 'target', 'seed', 'traces', 'packets', 'agreeing packets', 'disagreements', 'target errors', 'exceptions applied', 'packets/s', 'time'];
  const rows = ps.map((p) => {
    const exc = Object.values(p.counts.exceptionsApplied).reduce((a, b) => a + b, 0);
    return `<tr><td>${e(p.name)}</td><td>${badge(p.status)}</td><td>${e(p.target)}</td><td class="num">${p.config.seed}</td><td class="num">${p.counts.traces}/${p.config.runs}</td><td class="num">${p.counts.packets}</td><td class="num">${p.counts.agreements}</td><td class="num">${p.counts.disagreements}</td><td class="num">${p.counts.targetErrors}</td><td class="num">${exc}</td><td class="num">${p.timing.packetsPerSecond}</td><td class="num">${fmtMs(p.timing.elapsedMs)}</td></tr>`;
  });
  return `<table><tr>${head.map((h) => `<th>${e(h)}</th>`).join('')}</tr>${rows.join('')}</table>`;
}

function verdictCell(v: VerdictReport | null, diffs: Difference[], side: 'expected' | 'observed'): string {
  if (!v) {
    const msg = diffs.find((d) => d.kind === 'target-error')?.[side];
    return `<span class="diff">error${msg ? `: ${e(String(msg))}` : ''}</span>`;
  }
  return `<span class="mono">${e(v.text)}</span>`;
}

/** Hex with the bytes that differ from `other` marked. */
function hexMarked(h: string, other: string | null): string {
  const out: string[] = [];
  for (let i = 0; i < h.length; i += 2) {
    const b = h.slice(i, i + 2);
    const sep = i && i % 32 === 0 ? '\n' : i ? ' ' : '';
    out.push(sep + (other !== null && other.slice(i, i + 2) !== b ? `<mark>${b}</mark>` : b));
  }
  return out.join('');
}

function packetDetail(p: PacketReport): string {
  const side = (v: VerdictReport | null, other: VerdictReport | null, title: string): string => {
    if (!v) return `<div><h3>${e(title)}</h3><p class="diff">no verdict (error)</p></div>`;
    const lk = v.lookups.length
      ? `<table><tr><th>#</th><th>table</th><th>ct_state</th><th>zone</th><th>mark</th><th>label</th></tr>${v.lookups.map((l, i) => {
        const o = other?.lookups[i];
        // A lookup the other side does not have is different as a whole.
        const c = (a: unknown, b: unknown): string => ((o && a !== b) || (other && !o) ? ' class="diff"' : '');
        return `<tr><td>${i}</td><td${c(l.table, o?.table)}>${l.table}</td><td${c(l.state, o?.state)}>${e(l.stateText)}</td><td${c(l.zone, o?.zone)}>${l.zone}</td><td${c(l.mark, o?.mark)}>0x${l.mark.toString(16)}</td><td${c(l.label, o?.label)}>${e(l.label)}</td></tr>`;
      }).join('')}</table>`
      : '<p class="muted">no ct lookup</p>';
    const outs = v.outputs.length
      ? v.outputs.map((x, i) => {
        const o = other?.outputs.find((y, j) => y.port === x.port && j === i) ?? other?.outputs.find((y) => y.port === x.port) ?? null;
        return `<p>→ port ${x.port === 0xfffffffd ? 'controller' : x.port} (${x.bytes.length / 2} bytes)</p><pre>${hexMarked(x.bytes, o ? o.bytes : null)}</pre>`;
      }).join('')
      : '<p class="muted">drop (no output)</p>';
    return `<div><h3>${e(title)}</h3>${lk}${outs}</div>`;
  };
  return `<div class="side">${side(p.expected, p.observed, 'expected (reference)')}${side(p.observed, p.expected, 'observed (target)')}</div>`;
}

/** Both sides' state just before the failing packet: connections, hardware table entries. */
function stateSection(st: StateSnapshot): string {
  const side = (r: StateReport, role: string): string =>
    `<div><h3>${e(role)}: ${e(r.name)}</h3>${r.note ? `<p class="muted">${e(r.note)}</p>` : ''}${r.sections
      .map((x) => `<p><b>${e(x.title)}</b></p>${x.lines.length ? `<pre>${e(x.lines.join('\n'))}</pre>` : '<p class="muted">(empty)</p>'}`)
      .join('')}</div>`;
  return `<h3>State just before packet ${st.step}</h3>${st.note ? `<p class="muted">${e(st.note)}</p>` : ''}<div class="side">${side(st.reference, 'reference')}${side(st.target, 'target')}</div>`;
}

function counterexampleSection(p: PropertyReport): string {
  const c = p.counterexample!;
  const rows = c.packets.map((pk) => {
    const cls = pk.differences.length ? 'bad' : pk.excused.length ? 'excused' : '';
    const notes = [
      ...pk.differences.map((d) => `<div class="diff">✗ ${e(d.kind)}: ${e(d.message)}</div>`),
      ...pk.excused.map((x) => `<div class="exc">~ ${e(x.diff.kind)} excused by ${e(x.rule)}</div>`),
    ].join('');
    return `<tr class="${cls}"><td class="num">${pk.index}</td><td class="num">${pk.time}</td><td class="num">${pk.port}</td><td>${e(pk.label ?? '')}</td><td>${verdictCell(pk.expected, pk.differences, 'expected')}</td><td>${verdictCell(pk.observed, pk.differences, 'observed')}</td><td>${notes}</td></tr>`;
  });
  const failing = c.packets[c.packets.length - 1];
  return `<div class="card"><h3>Counterexample ${c.id}: ${e(p.name)} ${c.final ? '' : '<span class="badge interrupted">shrinking stopped early</span>'}${c.reproduced === false ? ' <span class="badge error">did not reproduce</span>' : ''}</h3>
<p>${e(p.target)} disagrees with ${e(p.reference)} at packet <b>${c.failingStep}</b> of ${c.packets.length}. seed <code>${c.seed}</code>, path <code>${e(c.path)}</code>.</p>
<p>Replay: <code>${e(c.replay)}</code>${c.replayFile ? ` or <code>--replay ${e(c.replayFile)}</code>` : ''}; capture: <code>counterexample-${c.id}.pcapng</code></p>
<table><tr><th>#</th><th>t (ms)</th><th>in_port</th><th>packet</th><th>expected (${e(p.reference)})</th><th>observed (${e(p.target)})</th><th>differences</th></tr>${rows.join('')}</table>
${failing ? `<h3>Packet ${failing.index} in detail</h3>${packetDetail(failing)}` : ''}
${c.state ? stateSection(c.state) : ''}
<details><summary>Scenario</summary><pre>${e(c.description)}</pre></details></div>`;
}

/** Traffic coverage: key bits seen varying per field, parser paths taken (harness/report/key-coverage.ts). */
function trafficSection(p: PropertyReport): string {
  const c = p.trafficCoverage;
  if (!c) return '';
  const fit = c.fitted.length ? `<p>traffic fitted to the policy: ${c.fitted.map((n) => e(n)).join('; ')}</p>` : '';
  const keys = `<table><tr><th>key field</th><th>bits varied / reachable / width</th><th>never varied</th></tr>${keyFieldSummary(c)
    .map((f) => `<tr${f.missing ? ' class="uncovered"' : ''}><td><code>${e(f.field)}</code></td><td class="num">${f.varying} / ${f.reachable} / ${f.width}</td><td><code>${f.missing ? e(f.missing) : ''}</code></td></tr>`)
    .join('')}</table>`;
  const paths = `<table><tr><th>parser path</th><th>packets</th></tr>${c.parser.paths
    .map((x) => `<tr${c.parser.taken[x] ? '' : ' class="uncovered"'}><td><code>${e(x)}</code></td><td class="num">${c.parser.taken[x] ?? 0}</td></tr>`)
    .join('')}${Object.entries(c.parser.excluded).map(([x, why]) => `<tr class="muted"><td><code>${e(x)}</code></td><td>${e(why)}</td></tr>`).join('')}</table>`;
  return `<details><summary>traffic coverage (search phase, ${e(c.weighting)} weighting)</summary>${fit}${keys}${paths}</details>`;
}

/**
 * Coverage: policy entries (reference and target counts; never-hit rows highlighted — red (`never`) when
 * no side ran the flow, amber (`cold`) when only the target's counters never saw it), the target's
 * conntrack tables, ct_state combinations per lookup site, and punt reasons with the never-hit
 * ones highlighted.
 */
function coverageSection(p: PropertyReport): string {
  const c = p.coverage;
  if (!c) return '';
  const rows = Object.entries(c.entries ?? {}).sort((a, b) => Number(a[0]) - Number(b[0]));
  const withTarget = c.entrySources?.target !== undefined;
  const src = p.policy.source.split('/').pop() ?? p.policy.source;
  const en = rows.length
    ? `<table><tr><th>policy entry</th><th>table</th><th>priority</th><th>flow</th><th>${e(p.reference)} (${e(c.entrySources?.reference ?? 'not counted')})</th>${withTarget ? `<th>${e(p.target)} (${e(c.entrySources!.target!)})</th>` : ''}</tr>${rows
      .map(([line, r]) => {
        const cls = r.reference === 0 && !r.target ? ' class="never"' : withTarget && !r.target ? ' class="cold"' : '';
        return `<tr${cls}><td><code>${e(src)}:${e(line)}</code></td><td class="num">${r.table}</td><td class="num">${r.priority}</td><td><code>${e(r.text)}</code></td><td class="num">${r.reference}</td>${withTarget ? `<td class="num">${r.target ?? 0}</td>` : ''}</tr>`;
      })
      .join('')}</table>${c.entryReadFailures ? `<p class="muted">counters could not be read after ${c.entryReadFailures} trace(s): their hits are missing</p>` : ''}`
    : '<p class="muted">policy entries: not recorded by this run</p>';
  const ctNever = new Set(unhitCtTables(c) ?? []);
  const ct = c.ctTables
    ? `<table><tr><th>conntrack table (${e(p.target)})</th><th>packets that hit an entry</th></tr>${Object.entries(c.ctTables).sort().map(([t, n]) => `<tr${ctNever.has(t) ? ' class="never"' : ''}><td><code>${e(t)}</code></td><td class="num">${n}</td></tr>`).join('')}</table>`
    : '';
  const actNever = new Set(unhitActions(c) ?? []);
  const act = c.actions
    ? `<table><tr><th>policy entry action (${e(p.target)})</th><th>packets</th></tr>${Object.entries(c.actions).sort().map(([a, n]) => `<tr${actNever.has(a) ? ' class="never"' : ''}><td><code>${e(a)}</code></td><td class="num">${n}</td></tr>`).join('')}</table>`
    : '';
  const sites = Object.keys(c.lookups).sort();
  const lk = sites.length
    ? `<table><tr><th>lookup site</th><th>ct_state</th><th>lookups</th></tr>${sites.flatMap((s) => Object.entries(c.lookups[s]!).sort((a, b) => b[1] - a[1]).map(([st, n]) => `<tr><td><code>${e(s)}</code></td><td><code>${e(st)}</code></td><td class="num">${n}</td></tr>`)).join('')}</table>`
    : '<p class="muted">no recirculating ct lookup</p>';
  const known = Object.keys(c.allowed).length > 0 || Object.keys(c.punts).length > 0;
  const never = new Set(neverHitReasons(c));
  const pr = known
    ? `<table><tr><th>punt reason</th><th>allowed by the contract (packets)</th><th>punted by the target (packets)</th></tr>${[...c.puntReasons, 'hardware'].map((r) => `<tr${never.has(r) ? ' class="never"' : ''}><td><code>${e(r)}</code></td><td class="num">${c.allowed[r] ?? 0}</td><td class="num">${c.punts[r] ?? 0}</td></tr>`).join('')}</table>`
    : '<p class="muted">punt reasons: not reported by this target or reference</p>';
  return `<details open><summary>coverage (search phase)</summary>${en}${act}${ct}${lk}${pr}</details>`;
}

/** A merged report's shards (`ctoffload report merge`): one row each, the chosen first failure marked. */
function shardsSection(p: PropertyReport): string {
  const sh = p.shards ?? [];
  if (sh.length === 0) return '';
  const chosen = p.counterexample?.path;
  const rows = sh.map((s) => `<tr${s.firstFailure && s.firstFailure.path === chosen ? ' class="bad"' : ''}><td class="num">${s.index}/${s.count}</td><td>${badge(s.status)}</td><td class="num">${s.traces}</td><td class="num">${s.packets}</td><td class="num">${s.disagreements}</td><td>${s.firstFailure ? `trace ${s.firstFailure.trace}, path <code>${e(s.firstFailure.path)}</code>${s.firstFailure.files.length ? ` (${s.firstFailure.files.map((f) => `<code>${e(f)}</code>`).join(', ')})` : ''}` : '<span class="muted">none</span>'}</td><td><code>${e(s.dir)}</code></td></tr>`);
  return `<p>Merged from ${sh.length} shards (traces t with t mod ${sh[0]!.count} = i − 1 in shard i); configuration <code>${e((p.configHash ?? '').slice(0, 16))}</code>. The first failure is the one with the lowest trace index.</p><table><tr><th>shard</th><th>status</th><th>traces</th><th>packets</th><th>disagreements</th><th>first failure</th><th>report directory</th></tr>${rows.join('')}</table>`;
}

function exceptionsSection(r: ConformanceReport): string {
  if (r.exceptions.length === 0) return '<p class="muted">The exceptions table is empty: every difference counts.</p>';
  const applied = (id: string): number => r.properties.reduce((n, p) => n + (p.counts.exceptionsApplied[id] ?? 0), 0);
  return `<table><tr><th>id</th><th>kind</th><th>targets</th><th>differences</th><th>applied</th><th>reason</th><th>source</th></tr>${r.exceptions.map((x) => `<tr><td class="nowrap"><code>${e(x.id)}</code></td><td>${e(x.kind)}</td><td>${e(x.targets.join(', '))}</td><td>${e(x.kinds.join(', '))}</td><td class="num">${applied(x.id)}</td><td>${e(x.reason)}</td><td>${e(x.source)}</td></tr>`).join('')}</table>`;
}

export function renderHtml(r: ConformanceReport): string {
  const kinds = new Map<string, number>();
  for (const p of r.properties) {
    for (const [k, v] of Object.entries(p.counts.byKind)) kinds.set(k, (kinds.get(k) ?? 0) + (v ?? 0));
    for (const d of p.counterexample?.differences ?? []) if (!p.counts.byKind[d.kind]) kinds.set(d.kind, (kinds.get(d.kind) ?? 0) + 1);
  }
  const versions = r.properties.flatMap((p) => Object.entries(p.versions).flatMap(([side, v]) => Object.entries(v).map(([k, x]) => `${side}: ${k} ${x}`)));
  const charts = r.properties.map((p) => rateChart(`packets/s over time — ${p.name}`, p.timing.samples)
    + barChart(`ct_state coverage (reference lookups) — ${p.name}`, Object.entries(p.counts.states ?? {}).sort((a, b) => b[1] - a[1]).slice(0, 12), 420, '#1565c0')).join('');
  const cxs = r.properties.filter((p) => p.counterexample);
  return `<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>ctoffload conformance — ${e(r.status)}</title><style>${CSS}</style></head>
<body>
<h1>ctoffload conformance ${badge(r.status)}</h1>
<p class="muted">started ${e(r.startedAt)}${r.finishedAt ? `, finished ${e(r.finishedAt)}` : `, updated ${e(r.updatedAt)}`} · ctoffload ${e(r.tool.ctoffload)} · node ${e(r.tool.node)} · fast-check ${e(r.tool.fastCheck)}</p>
${r.command ? `<p>Command: <code>${e(r.command)}</code></p>` : ''}
${r.error ? `<p class="diff">Error: ${e(r.error)}</p>` : ''}
<h2>Summary</h2>
${summaryTable(r.properties)}
<p class="muted">${e([...new Set(versions)].join(' · '))}</p>
<div class="charts">${barChart('disagreement kinds (search phase, plus the counterexample)', [...kinds.entries()].sort((a, b) => b[1] - a[1]))}${charts}</div>
<h2>Exceptions table</h2>
${exceptionsSection(r)}
<h2>Counterexamples</h2>
${cxs.length ? cxs.map(counterexampleSection).join('\n') : '<p>None: the target agreed with the reference on every packet.</p>'}
<h2>Properties</h2>
${r.properties.map((p) => `<div class="card"><h3>${e(p.name)} ${badge(p.status)}</h3><p>policy <code>${e(p.policy.source)}</code>, seed <code>${p.config.seed}</code>, runs ${p.config.runs}, jobs ${p.config.jobs}${p.config.path ? `, path <code>${e(p.config.path)}</code>` : ''}${p.config.shard ? `, shard ${p.config.shard.index}/${p.config.shard.count}` : ''}${p.configHash ? `, configuration <code>${e(p.configHash.slice(0, 16))}</code>` : ''}; shrinking: ${p.shrink.traces} traces, ${p.shrink.steps} steps; search ${fmtMs(p.timing.searchMs)}, shrink ${fmtMs(p.timing.shrinkMs)}.</p>${p.error ? `<p class="diff">${e(p.error)}</p>` : ''}${shardsSection(p)}${coverageSection(p)}${trafficSection(p)}<details><summary>policy text</summary><pre>${e(p.policy.text)}</pre></details></div>`).join('\n')}
</body></html>
`;
}
