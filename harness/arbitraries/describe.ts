/**
 * describeScenario: a readable, multi-line account of a Scenario for reports and failure
 * messages: one header per flow (tuple, ports, TCP parameters), one line per event with its
 * gap, and optionally the rendered trace (time, in_port, what each frame is).
 */
import { hostAddr, otherSide, portOf } from './_internals/addresses.js';
import { OVS_DEFAULT_TIMEOUTS_S } from './_internals/options.js';
import { renderScenarioDetailed } from './render.js';
import type { Flow, Scenario, TcpParams } from './types.js';

type AnyEvent = Flow['events'][number];

function near(gap: number): string {
  for (const t of OVS_DEFAULT_TIMEOUTS_S) {
    const d = gap - t * 1000;
    if (Math.abs(d) <= 1000) return `  (≈ ${t} s ${d >= 0 ? '+' : '-'} ${Math.abs(d)} ms)`;
  }
  return '';
}

function opt<T>(v: T | null | undefined): string {
  return v === null || v === undefined ? '-' : String(v);
}

function tcpParams(p: TcpParams | undefined): string {
  if (!p) return '';
  return `isn ${p.isn[0]}/${p.isn[1]} win ${p.win[0]}/${p.win[1]} wscale ${opt(p.wscale[0])}/${opt(p.wscale[1])} mss ${opt(p.mss[0])}/${opt(p.mss[1])} sack ${p.sackOk[0] ? 'y' : 'n'}/${p.sackOk[1] ? 'y' : 'n'}`;
}

function eventText(e: AnyEvent): string {
  const { gap: _g, dir: _d, bad, ...rest } = e as AnyEvent & { conn?: string };
  const parts: string[] = [];
  for (const [k, v] of Object.entries(rest)) {
    if (k === 'kind' || k === 'conn') continue;
    parts.push(`${k}=${k === 'flags' && typeof v === 'number' ? `0x${v.toString(16)}` : JSON.stringify(v)}`);
  }
  const conn = (e as { conn?: string }).conn === 'data' ? '[data-conn] ' : '';
  return `${conn}${e.kind}${parts.length ? ' ' + parts.join(' ') : ''}${bad ? ` BAD:${bad.op}${bad.op === 'truncate' ? `(${bad.bytes})` : ''}` : ''}`;
}

function flowHeader(f: Flow, i: number, s: Scenario): string {
  const fam = f.family === 6 ? 6 : 4;
  const cs = f.origin === 'outside' ? 'outside' : 'inside';
  const ss = otherSide(cs);
  const pools = s.addrs && typeof s.addrs === 'object' ? s.addrs : null;
  const c = hostAddr(cs, fam, f.client, pools);
  const sv = hostAddr(ss, fam, f.server, pools);
  const br = (a: string): string => (fam === 6 ? `[${a}]` : a);
  let tuple: string;
  switch (f.proto) {
    case 'tcp':
    case 'udp':
      tuple = `${br(c)}:${f.sport} → ${br(sv)}:${f.dport}`;
      break;
    case 'ftp':
      tuple = `${br(c)}:${f.sport} → ${br(sv)}:21, ${f.ftp.mode} port ${f.ftp.port}${f.ftp.wrongHost !== null ? ` WRONG address host#${f.ftp.wrongHost}` : ''}`;
      break;
    case 'tftp':
      tuple = `${br(c)}:${f.sport} → ${br(sv)}:69, server TID ${f.tid}`;
      break;
    case 'icmp':
      tuple = `${c} → ${sv} id ${f.id}`;
      break;
    default:
      tuple = `${c} ↔ ${sv}`;
  }
  const ports = `client ${cs} in_port ${portOf(s.ports, cs, f.pair)}, server ${ss} in_port ${portOf(s.ports, ss, f.pair)}`;
  const sh = f.shape;
  const shape = sh
    ? [
        ...(Array.isArray(sh.vlan) && sh.vlan.length ? [`vlan ${sh.vlan.map((t) => `0x${Number(t.tpid).toString(16)}/${t.vid}`).join(' ')}`] : []),
        ...(sh.ipOptions ? [`${sh.ipOptions} bytes of IPv4 options`] : []),
        ...(sh.ext ? [`IPv6 ${sh.ext} header`] : []),
      ].join(', ')
    : '';
  const head = `flow ${i}: ${f.proto}/IPv${fam} ${tuple} (${ports}), start ${f.start} ms${shape ? `, ${shape}` : ''}`;
  const extra: string[] = [];
  if (f.proto === 'tcp' || f.proto === 'ftp') extra.push(`  ${tcpParams(f.tcp)}`);
  if (f.proto === 'ftp') extra.push(`  data connection: sport ${f.ftp.dataSport}, ${tcpParams(f.ftp.data)}`);
  return [head, ...extra].join('\n');
}

export interface DescribeOptions {
  /** Append the rendered trace: time, in_port, frame length and what the frame is. */
  rendered?: boolean;
}

export function describeScenario(s: Scenario, opts: DescribeOptions = {}): string {
  const flows = Array.isArray(s?.flows) ? s.flows : [];
  const nEvents = flows.reduce((n, f) => n + (Array.isArray(f.events) ? f.events.length : 0), 0);
  const lines = [`scenario: ${flows.length} flow(s), ${nEvents} event(s); ports inside=[${s.ports?.inside?.join(',')}] outside=[${s.ports?.outside?.join(',')}]`];
  flows.forEach((f, i) => {
    lines.push(flowHeader(f, i, s));
    (f.events as AnyEvent[]).forEach((e, j) => {
      lines.push(`  ${String(j).padStart(3)} +${String(e.gap).padEnd(8)}ms ${e.dir.padEnd(5)} ${eventText(e)}${near(e.gap)}`);
    });
  });
  if (opts.rendered) {
    const r = renderScenarioDetailed(s);
    lines.push(`trace: ${r.trace.length} frame(s)`);
    r.trace.forEach((st, k) => {
      const info = r.steps[k]!;
      const flags = [info.ctStatus !== 0 ? `ctStatus=${info.ctStatus}` : '', info.anomaly ?? ''].filter(Boolean).join(', ');
      lines.push(`  ${String(k).padStart(3)} t=${String(st.time).padEnd(9)} in_port=${st.port} len=${String(st.frame.length).padEnd(5)} ${info.label}${flags ? ` [${flags}]` : ''}`);
    });
  }
  return lines.join('\n');
}
