/**
 * Coverage from the switch itself (docs/report-schema.md "Coverage"): the direct counters of
 * the generated program's policy stage tables (with `policyCounters`, offload/config.ts) and
 * conntrack tables, read over P4Runtime — one wildcard Read with `counter_data` per table
 * (docs/p4-target-interfaces.md §4.7), the way the controller reads hits for ageing
 * (offload/controller/p4rt.ts). Reading is observation from outside: nothing is written.
 *
 * Mapping back to the policy: a stage table entry is the flow whose (table, ternary match,
 * priority) offload/entries.ts `stageTableEntries` built it from; a flow unrolled into several
 * stages sums its entries. Counts are deltas since the previous read (the base is the last
 * value seen per entry; the first read, at load, absorbs the load-time checks).
 *
 * What the hardware counts is what it processed: an input the target sends again after a
 * discarded speculative round (./target.ts "Speculative rounds") is counted again, and a
 * punted packet is counted by the entries it hit before the punt while the slow path's model
 * runs the rest in software. So the target's count of an entry is not the reference's: it is
 * the coverage of the hardware program (`--window 1` sends nothing twice).
 *
 * Conntrack entries come and go (installed by the slow path, deleted when a connection closes
 * or expires and on every reset). `countingDevice` wraps the device the controller core writes
 * through: before a write that deletes conntrack entries it reads the conntrack tables'
 * counters (`readCt`), so the hits of entries about to go are credited to the next `take()`.
 * Hits between that read and the deletion (packets in flight) are still missed: a table's count
 * is a lower bound. `forgetCt()` (after reset deleted them all) drops their bases, so an entry
 * re-installed under the same key in the next trace counts from zero.
 */
import { entryKey, flowMatch, INGRESS, type ControllerDevice, type Plan } from '../../../offload/index.js';
import { describeTableEntry, tableReadRequest, type DecodedMatch, type P4InfoIndex, type P4RuntimeClient } from '../../../p4/index.js';
import type { EntryHits } from '../target.js';

const qualify = (local: string): string => `${INGRESS}.${local}`;

function matchRecord(match: Record<string, DecodedMatch>): Record<string, unknown> {
  const m: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(match)) {
    if (v.kind === 'exact' || v.kind === 'optional') m[k] = v.value;
    else if (v.kind === 'ternary') m[k] = { value: v.value, mask: v.mask };
    else m[k] = { value: 0n };
  }
  return m;
}

const key = (table: string, match: Record<string, unknown>, priority: number): string => `${entryKey(table, match)}#${priority}`;

export class EntryCounterReader {
  /** Stage table entry key → policy line. */
  private readonly lineOf = new Map<string, number>();
  /** Stage table entry key → the P4 action it runs (`flow_ct`, `flow_punt`, …). */
  private readonly actionOf = new Map<string, string>();
  /** Every action some installed policy entry runs (so the never-hit ones are listed). */
  private readonly actionNames = new Set<string>();
  /** Qualified ct table name → its plan name. */
  private readonly ctNames = new Map<string, string>();
  /** Tables read (those with a direct counter). */
  private readonly tables: string[] = [];
  /** Last packet count seen per entry key. */
  private readonly base = new Map<string, bigint>();
  private countsFlows = false;
  /** Conntrack hits read before deletions (`readCt`), not yet returned by take(). */
  private pendingCt: Record<string, number> = {};

  constructor(
    plan: Plan,
    private readonly p4info: P4InfoIndex,
  ) {
    this.usePlan(plan);
    for (const c of plan.ctTables) {
      const t = qualify(c.name);
      if (!this.hasCounter(t)) continue;
      this.tables.push(t);
      this.ctNames.set(t, c.name);
    }
  }

  private hasCounter(t: string): boolean {
    try {
      return Boolean(this.p4info.table(t).directCounterId);
    } catch {
      return false; // a hand-modified program without the table
    }
  }

  /**
   * The policy entries of `plan` from now on (a policy change that keeps the program: same
   * tables, other entries). Bases stay: an entry the change kept keeps counting from its last
   * read; one it removed is dropped by the next take().
   */
  usePlan(plan: Plan): void {
    const stage = new Set(plan.stageTables.map((st) => qualify(st.name)));
    for (let i = this.tables.length - 1; i >= 0; i--) if (!this.ctNames.has(this.tables[i]!)) this.tables.splice(i, 1);
    this.lineOf.clear();
    this.actionOf.clear();
    this.actionNames.clear();
    let flows = 0;
    for (const st of plan.stageTables) {
      const t = qualify(st.name);
      if (!this.hasCounter(t)) continue;
      this.tables.push(t);
      flows++;
      for (const sf of st.flows) {
        const m = flowMatch(sf);
        if (!m) continue;
        this.lineOf.set(key(t, m, sf.priority), sf.flow.line);
        this.actionOf.set(key(t, m, sf.priority), sf.hw.action);
        this.actionNames.add(sf.hw.action);
      }
    }
    this.countsFlows = flows > 0 && flows === stage.size;
  }

  /** Packets per policy line and per conntrack table since the previous call. */
  async take(client: P4RuntimeClient): Promise<EntryHits> {
    const flows: Record<number, number> = {};
    const actions: Record<string, number> = {};
    for (const a of this.actionNames) actions[a] = 0;
    const ctTables: Record<string, number> = {};
    for (const n of this.ctNames.values()) ctTables[n] = this.pendingCt[n] ?? 0;
    this.pendingCt = {};
    if (this.tables.length) await this.read(client, this.tables, flows, ctTables, true, actions);
    return { ...(this.countsFlows ? { flows, actions } : {}), ctTables, source: 'direct counters' };
  }

  /**
   * Credit the conntrack tables' hits so far, before the entries `deleting` (keys) go: their
   * bases go with them, so an entry installed again under the same key counts from zero.
   */
  async readCt(client: P4RuntimeClient, deleting: readonly string[] = []): Promise<void> {
    const cts = [...this.ctNames.keys()];
    if (cts.length) await this.read(client, cts, {}, this.pendingCt, false);
    for (const k of deleting) this.base.delete(k);
  }

  /**
   * One wildcard Read of `tables`; deltas against the bases into `flows` / `ctTables`. With
   * `all`, every table was read, so entries not seen are gone and their bases go too.
   */
  private async read(client: P4RuntimeClient, tables: string[], flows: Record<number, number>, ctTables: Record<string, number>, all: boolean, actions: Record<string, number> = {}): Promise<void> {
    const read = await client.readAll(tables.map((t) => ({ tableEntry: tableReadRequest(this.p4info, t, { counterData: true }) })));
    const seen = new Set<string>();
    for (const ent of read) {
      if (!ent.tableEntry || ent.tableEntry.isDefaultAction) continue;
      const d = describeTableEntry(this.p4info, ent.tableEntry);
      const k = key(d.table, matchRecord(d.match), d.priority);
      const n = d.counterData?.packetCount ?? 0n;
      const prev = this.base.get(k) ?? 0n;
      // Below the base: a new entry under an old key (deleted and installed again): count it all.
      const delta = Number(n >= prev ? n - prev : n);
      this.base.set(k, n);
      seen.add(k);
      const ct = this.ctNames.get(d.table);
      if (ct !== undefined) ctTables[ct] = (ctTables[ct] ?? 0) + delta;
      else {
        const line = this.lineOf.get(k);
        if (line !== undefined && delta > 0) flows[line] = (flows[line] ?? 0) + delta;
        const action = this.actionOf.get(k);
        if (action !== undefined) actions[action] = (actions[action] ?? 0) + delta;
      }
    }
    // Entries gone since the last read (deleted connections) keep no base.
    if (all) for (const k of [...this.base.keys()]) if (!seen.has(k)) this.base.delete(k);
  }

  /**
   * `device` with a `readCt` before every write that deletes conntrack entries. Reading only;
   * a failed read leaves the hits uncounted and never fails the write.
   */
  countingDevice(device: ControllerDevice, client: P4RuntimeClient): ControllerDevice {
    return {
      ...device,
      write: async (ops) => {
        const deleting = ops.filter((o) => o.type === 'DELETE' && this.ctNames.has(o.entry.table)).map((o) => key(o.entry.table, o.entry.spec.match ?? {}, o.entry.spec.priority ?? 0));
        if (deleting.length) await this.readCt(client, deleting).catch(() => undefined);
        return device.write(ops);
      },
    };
  }

  /** Every conntrack entry was deleted (reset): their bases go. */
  forgetCt(): void {
    for (const k of [...this.base.keys()]) if (this.ctNames.has(k.slice(0, k.indexOf('|')))) this.base.delete(k);
  }
}
