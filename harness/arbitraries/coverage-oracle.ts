/**
 * The model-only coverage oracle of coverage-weighted generation (steering.ts): the coverage keys
 * a scenario hits when the reference runs it — no target involved, so a replay recomputes them.
 *  - `punt:<REASON>` / `punt:hardware`: what the offload contract allows for each packet
 *    (harness/contract.ts ContractEngine, the deployed configuration by default);
 *  - `state:table=T zone=Z:<ct_state>`: the ct_state of each recirculating lookup, per site (as
 *    PropertyReport.coverage.lookups counts them);
 *  - `entry:<line>`: each policy flow (by line) a packet visited, `entry:miss` a table miss.
 */
import { ContractEngine } from '../contract.js';
import { formatCtState } from '../../model/ctstate.js';
import { PipelineEngine } from '../../model/pipeline/index.js';
import type { PolicySource } from '../targets/target.js';
import type { CoverageOracle } from './steering.js';
import { renderScenario } from './render.js';
import type { Scenario } from './types.js';

export function modelCoverageOracle(policy: PolicySource, offloadConfig: Record<string, unknown> = {}): CoverageOracle {
  const contract = new ContractEngine(offloadConfig);
  const flows = new PipelineEngine();
  contract.load(policy);
  flows.load(policy);
  const states = new Map<number, string>();
  return (s: Scenario): string[] => {
    contract.reset();
    flows.reset();
    const keys = new Set<string>();
    for (const st of renderScenario(s)) {
      const v = contract.process(st.port, st.frame, st.time);
      for (const a of v.offload?.allowed ?? []) if (a !== '*') keys.add(`punt:${a}`);
      for (const l of v.lookups) {
        let t = states.get(l.state);
        if (t === undefined) states.set(l.state, (t = formatCtState(l.state)));
        keys.add(`state:table=${l.table} zone=${l.zone}:${t}`);
      }
      for (const f of flows.processFlows(st.port, st.frame, st.time).flows) keys.add(f.line < 0 ? 'entry:miss' : `entry:${f.line}`);
    }
    return [...keys];
  };
}
