/**
 * The daemon's counters in the Prometheus text exposition format (prom-client), served over
 * HTTP at `/metrics` on the address the user gives (`--metrics HOST:PORT`; nothing is served
 * unless asked, and the CLI documents a loopback address: the endpoint has no authentication).
 *
 * Every value is read from `ControllerDaemon.status()` (SlowPathController.status() inside) at
 * scrape time, so a scrape costs one status() call and nothing runs between scrapes. Counters
 * are cumulative over the daemon's life (they survive reconnects); gauges are the state now.
 * Names: `ctoffload_controller_*`, plus prom-client's default `process_*` / `nodejs_*` ones.
 */
import { createServer, type Server } from 'node:http';
import { Counter, Gauge, Registry, collectDefaultMetrics } from 'prom-client';
import type { DaemonStatus } from './daemon.js';

const P = 'ctoffload_controller_';

type Sample = [Record<string, string>, number];

/** A registry whose metrics read `read()` at each scrape. */
export function daemonRegistry(read: () => DaemonStatus, opts: { defaultMetrics?: boolean } = {}): Registry {
  const reg = new Registry();
  let snap: DaemonStatus | undefined;
  // One status() per scrape: the first collector to run takes it, the others reuse it.
  const st = (): DaemonStatus => (snap ??= read());
  const counter = (name: string, help: string, labelNames: string[], get: (s: DaemonStatus) => Sample[]): void => {
    new Counter({
      name: P + name,
      help,
      labelNames,
      registers: [reg],
      collect() {
        this.reset();
        for (const [labels, v] of get(st())) this.inc(labels, v);
      },
    });
  };
  const gauge = (name: string, help: string, labelNames: string[], get: (s: DaemonStatus) => Sample[]): void => {
    new Gauge({
      name: P + name,
      help,
      labelNames,
      registers: [reg],
      collect() {
        this.reset();
        for (const [labels, v] of get(st())) this.set(labels, v);
      },
    });
  };
  const c = (s: DaemonStatus) => s.controller;
  const one = (v: number | undefined): Sample[] => (v === undefined ? [] : [[{}, v]]);

  gauge('info', 'Constant 1, labelled with the target and the program cookie.', ['address', 'device_id', 'election_id', 'cookie'], (s) => [[{ address: s.address, device_id: s.deviceId, election_id: s.electionId, cookie: s.cookie }, 1]]);
  gauge('up', '1 while a primary P4Runtime session is up.', [], (s) => [[{}, s.connected ? 1 : 0]]);
  gauge('state', 'Daemon state (1 for the current one).', ['state'], (s) => (['starting', 'ready', 'reconnecting', 'stopping', 'stopped', 'failed'] as const).map((x) => [{ state: x }, s.state === x ? 1 : 0]));
  counter('reconnects_total', 'Sessions re-established after a loss (entries written back each time).', [], (s) => one(s.reconnects));
  counter('session_failures_total', 'Failed session attempts (connect, arbitration, pipeline, static entries).', [], (s) => one(s.sessionFailures));
  counter('pipeline_pushes_total', 'SetForwardingPipelineConfig pushes (each empties every table).', [], (s) => one(s.pipelinePushes));
  gauge('last_recovery_seconds', 'Duration of the last recovery: loss to every entry written back.', [], (s) => one(s.lastRecoveryMs === undefined ? undefined : s.lastRecoveryMs / 1000));
  counter('stale_entries_deleted_total', 'Idle conntrack entries deleted because no model connection owned them.', [], (s) => one(s.staleEntriesDeleted));
  counter('packet_outs_lost_total', 'PacketOuts dropped because no session could take them.', [], (s) => one(s.packetOutsLost));

  counter('policy_reloads_total', 'Policy changes (SIGHUP) by outcome: ok (applied) or failed (refused; the running policy stayed).', ['outcome'], (s) => [[{ outcome: 'ok' }, s.policyReloads], [{ outcome: 'failed' }, s.policyReloadsFailed]]);
  counter('connections_revalidated_total', 'Model connections whose entries were recomputed for a new policy.', [], (s) => one(c(s)?.policyChanges.revalidated));
  counter('revalidation_entries_removed_total', 'Conntrack entries deleted by policy changes (the new policy no longer offloads them that way).', [], (s) => one(c(s)?.policyChanges.entriesRemoved));
  counter('revalidation_entries_rewritten_total', 'Conntrack entries modified or inserted by policy changes.', [], (s) => one(c(s)?.policyChanges.entriesRewritten));
  counter('policy_table_writes_total', 'Policy-table updates written by policy changes (the difference only).', [], (s) => one(c(s)?.policyChanges.staticWrites));
  counter('packet_ins_total', 'PacketIns received.', [], (s) => one(c(s)?.packetIns));
  counter('punts_total', 'Punted packets by reason (offload/punt.ts).', ['reason'], (s) => Object.entries(c(s)?.punts ?? {}).map(([reason, v]) => [{ reason }, v]));
  counter('packet_outs_total', 'PacketOuts sent (model outputs reinjected).', [], (s) => one(c(s)?.packetOuts));
  counter('controller_outputs_total', 'Outputs to the controller port (hardware and model).', [], (s) => one(c(s)?.controllerOutputs));
  counter('malformed_packet_ins_total', 'PacketIns that could not be decoded.', [], (s) => one(c(s)?.malformedPacketIns));
  counter('packet_ins_dropped_total', "PacketIns lost to the daemon's full queue.", [], (s) => one(c(s)?.packetInsDropped));
  counter('entry_writes_total', 'Conntrack entry updates applied, by operation.', ['op'], (s) => {
    const w = c(s)?.writes;
    return w ? [[{ op: 'insert' }, w.insert], [{ op: 'modify' }, w.modify], [{ op: 'delete' }, w.delete]] : [];
  });
  counter('write_rpcs_total', 'Write RPCs for conntrack entries.', [], (s) => one(c(s)?.writes.rpcs));
  counter('failures_total', 'Failures by kind (write, table_full, already_exists, delete_not_found, handler, unsendable, barrier).', ['kind'], (s) => {
    const f = c(s)?.failures;
    if (!f) return [];
    return [
      [{ kind: 'write' }, f.write],
      [{ kind: 'table_full' }, f.tableFull],
      [{ kind: 'already_exists' }, f.alreadyExists],
      [{ kind: 'delete_not_found' }, f.deleteNotFound],
      [{ kind: 'handler' }, f.handler],
      [{ kind: 'unsendable' }, f.unsendable],
      [{ kind: 'counter_read' }, f.counterRead],
    ];
  });
  counter('expired_connections_total', 'Connections the model expired (entries deleted).', [], (s) => one(c(s)?.ageingStats.expired));
  counter('refreshed_by_hits_total', 'Connection refreshes caused by growing direct counters.', [], (s) => one(c(s)?.ageingStats.refreshedByHits));
  counter('idle_notifications_total', 'Entries reported idle by the switch.', [], (s) => one(c(s)?.ageingStats.idleNotifications));
  counter('counter_polls_total', 'Direct-counter reads.', [], (s) => one(c(s)?.ageingStats.counterPolls));
  gauge('entries_installed', 'Conntrack entries installed now.', [], (s) => one(c(s)?.entriesInstalled));
  gauge('connections_offloaded', 'Model connections with entries in hardware now.', [], (s) => one(c(s)?.connectionsOffloaded));
  gauge('model_connections', 'Connections the model holds now.', [], (s) => one(c(s)?.modelConnections));
  gauge('slow_path_only', 'Offloadable connections kept in the slow path because an INSERT failed (table full).', [], (s) => one(c(s)?.slowPathOnly));
  gauge('model_clock_seconds', "The model's clock (wall-clock time with a session up).", [], (s) => one(c(s) === undefined ? undefined : c(s)!.now / 1000));

  if (opts.defaultMetrics ?? true) collectDefaultMetrics({ register: reg });
  // Reset the per-scrape snapshot once every collector has run.
  const metrics = reg.metrics.bind(reg);
  reg.metrics = async () => {
    snap = undefined;
    try {
      return await metrics();
    } finally {
      snap = undefined;
    }
  };
  return reg;
}

export interface MetricsServer {
  /** `http://host:port/metrics` as bound (the port is the real one when 0 was given). */
  url: string;
  close(): Promise<void>;
}

/** Serve `reg` at `http://host:port/metrics`; rejects if the address cannot be bound. */
export function serveMetrics(reg: Registry, host: string, port: number): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD' }).end();
      return;
    }
    if (path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('ctoffload controller: metrics are at /metrics\n');
      return;
    }
    reg.metrics().then(
      (text) => res.writeHead(200, { 'content-type': reg.contentType }).end(req.method === 'HEAD' ? undefined : text),
      (e: unknown) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${(e as Error).message}\n`),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const a = server.address();
      const bound = typeof a === 'object' && a ? a.port : port;
      const h = host.includes(':') ? `[${host}]` : host;
      resolve({
        url: `http://${h}:${bound}/metrics`,
        close: () => new Promise<void>((r) => server.close(() => r())),
      });
    });
  });
}
