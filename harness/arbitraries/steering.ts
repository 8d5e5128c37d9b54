/**
 * Coverage-weighted generation (traffic option `weighting: "coverage"`, issue 16): runs go
 * after what the earlier runs have not covered — punt reasons, policy entries, ct_state
 * combinations per lookup site — as measured by a model-only oracle (coverage-oracle.ts).
 *
 * Reproducibility from `seed` AND `path` (docs/style.md §3) is what shapes the design. fast-check
 * replays run k from `{ seed, path: "k:…" }` without running runs 0…k−1, so whatever steers run
 * k must be recomputable from the seed alone. Here run k is a pure function of (seed, k, the
 * traffic options, the policy):
 *  - run k draws C candidate scenarios, one after the other, from its own random stream (the
 *    stream fast-check gives run k for the seed), and keeps the one with the highest score;
 *  - the score of a candidate is Σ 1/(1 + n(key))² over the coverage keys the oracle says it hits,
 *    where n(key) counts the earlier runs 0…k−1 (their chosen scenarios) that hit the key: a key
 *    never hit is worth 1, a key hit once ¼, a common key almost nothing. Ties keep the first.
 * The counts for run k depend on runs 0…k−1 only, which depend on the seed only, so they are
 * recomputed by generating and scoring those runs with the model (no target involved: the
 * oracle is the reference model in process). A search computes them once, in order; a replay of
 * path "k:…" computes runs 0…k−1 first (cost: k·C model-only traces, about a millisecond each)
 * and then lets fast-check generate run k with the same counts and shrink it as usual — the
 * weighting only chooses among candidates, it changes nothing in shrinking. Every machine and
 * every shard computes the same counts, so shards stay exactly the unsharded run's traces.
 */
import fc from 'fast-check';
import { Gen, ScenarioGen } from './_internals/generate.js';
import { resolveOptions, type ResolvedOptions } from './_internals/options.js';
import { isScenario, shrinkScenario } from './_internals/shrink.js';
import type { Scenario, TrafficOptions } from './types.js';

/** The coverage keys a scenario hits (e.g. `punt:CT_MISS`, `entry:7`, `state:table=1 zone=1:new|trk`). */
export type CoverageOracle = (s: Scenario) => readonly string[];

/** Candidates per run: more steers harder and costs more model time; 4 is where the gain flattens (docs). */
export const STEERING_CANDIDATES = 4;

export function steeringScore(keys: readonly string[], counts: ReadonlyMap<string, number>): number {
  let s = 0;
  for (const k of new Set(keys)) {
    const n = counts.get(k) ?? 0;
    s += 1 / ((1 + n) * (1 + n));
  }
  return s;
}

class SteeredArbitrary extends fc.Arbitrary<Scenario> {
  /** Keys of the scenario generated last (the runs' bookkeeping reads them). */
  lastKeys: readonly string[] = [];

  constructor(
    private readonly o: ResolvedOptions,
    private readonly counts: () => ReadonlyMap<string, number>,
    private readonly oracle: CoverageOracle,
    private readonly candidates: number,
  ) {
    super();
  }

  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<Scenario> {
    // The same small-first bias as the uniform arbitrary (scenario.ts), drawn once per run.
    const small = biasFactor !== undefined && mrng.nextInt(1, biasFactor) === 1;
    const gen = new ScenarioGen(new Gen(mrng), this.o);
    const counts = this.counts();
    let best: Scenario | null = null;
    let bestKeys: readonly string[] = [];
    let bestScore = -1;
    for (let c = 0; c < this.candidates; c++) {
      const s = gen.scenario(small);
      const keys = this.oracle(s);
      const score = steeringScore(keys, counts);
      if (score > bestScore) {
        best = s;
        bestKeys = keys;
        bestScore = score;
      }
    }
    this.lastKeys = bestKeys;
    return new fc.Value(best!, undefined);
  }

  canShrinkWithoutContext(value: unknown): value is Scenario {
    return isScenario(value);
  }

  shrink(value: Scenario): fc.Stream<fc.Value<Scenario>> {
    return new fc.Stream(shrinkScenario(value)).map((s) => new fc.Value(s, undefined));
  }
}

/**
 * The runs of one seed under coverage weighting: `scenarioAt(k)` is run k's scenario, and
 * `arbitraryFor(k)` an arbitrary that fast-check, started at path "k…", makes generate exactly
 * that scenario (and shrink it). Throws CTO_TRAFFIC_OPTIONS at once for bad options.
 */
export class CoverageSteering {
  private readonly o: ResolvedOptions;
  /** Chosen scenario and its keys, per run computed so far (runs 0…done−1). */
  private readonly keysOf: (readonly string[])[] = [];
  private readonly scenarios = new Map<number, Scenario>();
  private readonly counts = new Map<string, number>();

  constructor(
    options: TrafficOptions,
    private readonly oracle: CoverageOracle,
    private readonly seed: number,
    private readonly candidates = STEERING_CANDIDATES,
  ) {
    this.o = resolveOptions(options);
  }

  /** Runs computed so far. */
  get done(): number {
    return this.keysOf.length;
  }

  /** Computes runs done…k−1 (in order: each run's counts are those of the runs before it). */
  private advance(k: number): void {
    if (k <= this.done) return;
    const arb = new SteeredArbitrary(this.o, () => this.counts, this.oracle, this.candidates);
    let i = this.done;
    // fast-check generates run i+1 only after the property of run i returned (a lazy stream),
    // so the counts run i+1 sees include run i.
    fc.check(
      fc.property(arb, (s) => {
        this.scenarios.set(i, s);
        this.keysOf.push(arb.lastKeys);
        for (const key of new Set(arb.lastKeys)) this.counts.set(key, (this.counts.get(key) ?? 0) + 1);
        i++;
      }),
      { seed: this.seed, path: String(this.done), numRuns: k - this.done },
    );
  }

  /** Run k's scenario (removed from the cache: the search asks once per run). */
  scenarioAt(k: number): Scenario {
    this.advance(k + 1);
    const s = this.scenarios.get(k);
    this.scenarios.delete(k);
    return s ?? this.regenerate(k);
  }

  private regenerate(k: number): Scenario {
    let out: Scenario | null = null;
    fc.check(fc.property(this.arbitraryFor(k), (s) => void (out = s)), { seed: this.seed, path: String(k), numRuns: 1 });
    return out!;
  }

  /** The counts of the coverage keys over runs 0…k−1. */
  countsBefore(k: number): Map<string, number> {
    this.advance(k);
    const c = new Map<string, number>();
    for (let j = 0; j < k; j++) for (const key of new Set(this.keysOf[j]!)) c.set(key, (c.get(key) ?? 0) + 1);
    return c;
  }

  /** For `fc.check({ seed, path: "k…" })`: generates run k as scenarioAt(k) does, shrinks as usual. */
  arbitraryFor(k: number): fc.Arbitrary<Scenario> {
    const counts = this.countsBefore(k);
    return new SteeredArbitrary(this.o, () => counts, this.oracle, this.candidates);
  }

  /** Coverage keys hit by runs 0…done−1, with the number of runs that hit each. */
  coverage(): ReadonlyMap<string, number> {
    return this.counts;
  }
}
