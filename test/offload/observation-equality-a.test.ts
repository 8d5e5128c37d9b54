/**
 * The observation build (config probe: true) is proven equal to the production build but for
 * observation, on p4c's outputs (formulation: test/offload/observation-equality.ts), for the
 * compile-matrix policies (part a) and the policies the bmv2 suites and conformance runs use.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describeWithTools, P4C_TOOL } from '../support/tools.js';
import { matrixPart } from './matrix-policies.js';
import { equalitySuite, fromMatrix, fromText } from './observation-suite.js';

const text = (rel: string): string => readFileSync(fileURLToPath(new URL(rel, import.meta.url)), 'utf8');

describeWithTools('observation build = production build but for observation (p4c, part a)', [P4C_TOOL], () =>
  equalitySuite([
    ...matrixPart(0, 2).map(fromMatrix),
    fromText('two-zones.flows', text('./fixtures/two-zones.flows')),
    fromText('ovs-reuse-count.flows (timeout policy, zone limit, resubmit)', text('../harness/compare/fixtures/ovs-reuse-count.flows')),
  ]),
);
