/**
 * One side of a differential pair (the target under test or the reference), created lazily from
 * its factory, loaded with the policy, and replaced after any error or missed deadline: a target
 * that timed out may be mid-packet, so it is never trusted again (closed in the background,
 * bounded by the same deadline).
 */
import type { PolicySource, Target } from '../targets/target.js';
import { errorText, RunnerError, withDeadline } from './errors.js';

export type TargetFactory = () => Promise<Target>;

/** Add `from`'s counters into `into` (name by name); returns `into`. */
export function addCounters(into: Record<string, number>, from: Record<string, number>): Record<string, number> {
  for (const [k, v] of Object.entries(from)) into[k] = (into[k] ?? 0) + v;
  return into;
}

export class Side {
  private t: Target | null = null;
  private pendingClose: Promise<void>[] = [];
  name: string | null = null;
  versions: Record<string, string> | null = null;

  constructor(
    readonly role: 'target' | 'reference',
    private readonly factory: TargetFactory,
    private readonly policy: PolicySource,
    private readonly startTimeoutMs: number,
  ) {}

  /** The live instance, created and loaded on first use (or after discard). */
  async get(): Promise<Target> {
    if (this.t) return this.t;
    let t: Target;
    try {
      t = await withDeadline(this.factory(), this.startTimeoutMs, `starting the ${this.role}`);
    } catch (e) {
      throw new RunnerError('CTO_RUN_TARGET', `cannot start the ${this.role}: ${errorText(e)}`, { cause: e });
    }
    try {
      await withDeadline(t.load(this.policy), this.startTimeoutMs, `${t.name}: loading ${this.policy.source}`);
    } catch (e) {
      void t.close().catch(() => {});
      throw new RunnerError('CTO_RUN_TARGET', `${t.name} (${this.role}) rejected ${this.policy.source}: ${errorText(e)}`, { cause: e });
    }
    this.name = t.name;
    if (!this.versions) {
      try {
        this.versions = (await withDeadline(t.versions?.() ?? Promise.resolve({}), this.startTimeoutMs, `${t.name}: versions`)) ?? {};
      } catch {
        this.versions = {};
      }
    }
    this.t = t;
    return t;
  }

  /**
   * The last lines of the live instance's own log, when the target keeps one (OvsTarget.log():
   * ovs-vswitchd.log), for error reports; '' otherwise. Call before discard().
   */
  logTail(lines = 8): string {
    const t = this.t as (Target & { log?: () => string }) | null;
    if (!t || typeof t.log !== 'function') return '';
    try {
      const l = t.log().trimEnd().split('\n');
      return l.slice(-lines).join('\n');
    } catch {
      return '';
    }
  }

  /** The live instance, or null (never creates one: for reading what it counted). */
  live(): Target | null {
    return this.t;
  }

  /** Counters (Target.counters) of every instance this side has had, the live one included. */
  counters(): Record<string, number> {
    return addCounters({ ...this.past }, this.t?.counters?.() ?? {});
  }

  private past: Record<string, number> = {};

  /** Drop the instance after an error; it is closed in the background (bounded). */
  discard(): void {
    const t = this.t;
    this.past = this.counters();
    this.t = null;
    if (t) this.pendingClose.push(withDeadline(t.close(), this.startTimeoutMs, `${t.name}: close`).catch(() => {}));
  }

  async close(): Promise<void> {
    this.discard();
    await Promise.all(this.pendingClose);
    this.pendingClose = [];
  }
}
