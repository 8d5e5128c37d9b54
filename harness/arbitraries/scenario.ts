/**
 * scenarioArb: the public traffic arbitrary. It generates a Scenario (realistic flows from
 * protocol templates, see _internals/generate.ts) and shrinks it structurally
 * (_internals/shrink.ts), the way fast-check's own arbitraries pair `generate` with `shrink`
 * (docs/style.md §3). Render with `renderScenario`; keep the Scenario for reports and replay.
 */
import fc from 'fast-check';
import { Gen, ScenarioGen } from './_internals/generate.js';
import { resolveOptions, type ResolvedOptions } from './_internals/options.js';
import { isScenario, shrinkScenario } from './_internals/shrink.js';
import type { Scenario, TrafficOptions } from './types.js';

class ScenarioArbitrary extends fc.Arbitrary<Scenario> {
  constructor(private readonly o: ResolvedOptions) {
    super();
  }

  generate(mrng: fc.Random, biasFactor: number | undefined): fc.Value<Scenario> {
    // Under bias, one run in biasFactor starts from the fewest flows: small cases first.
    const small = biasFactor !== undefined && mrng.nextInt(1, biasFactor) === 1;
    return new fc.Value(new ScenarioGen(new Gen(mrng), this.o).scenario(small), undefined);
  }

  canShrinkWithoutContext(value: unknown): value is Scenario {
    return isScenario(value);
  }

  shrink(value: Scenario): fc.Stream<fc.Value<Scenario>> {
    return new fc.Stream(shrinkScenario(value)).map((s) => new fc.Value(s, undefined));
  }
}

/** Arbitrary traffic scenarios. Throws CTO_TRAFFIC_OPTIONS at once for bad options. */
export function scenarioArb(options: TrafficOptions = {}): fc.Arbitrary<Scenario> {
  return new ScenarioArbitrary(resolveOptions(options));
}
