/**
 * One home for what a conformance run against bmv2 consists of, so that `ctoffload
 * conformance --target bmv2`, the self-test and the benchmarks check the same thing: the
 * target (the generated program and the deployed controller core, ./target.ts), the reference
 * that also knows the offload contract (harness/contract.ts, with the target's offload
 * configuration), and the exceptions table with the rows the configuration needs.
 */
import type { TargetFactory } from '../../runner/index.js';
import { ContractEngine } from '../../contract.js';
import { EXCEPTIONS, type ExceptionRule } from '../../exceptions.js';
import { ModelTarget } from '../model.js';
import type { PolicySource } from '../target.js';
import { tcpSeqChkDisabledRule } from './exceptions.js';
import { bmv2OffloadConfig, createBmv2Target, type Bmv2TargetOptions } from './target.js';

export interface Bmv2Run {
  target: TargetFactory;
  reference: TargetFactory;
  exceptions: ExceptionRule[];
  /** The ageing the run checks ('hardware' unless asked otherwise). */
  ageing: 'hardware' | 'exact';
}

export function bmv2Run(policy: PolicySource, opts: Bmv2TargetOptions = {}): Bmv2Run {
  const config = bmv2OffloadConfig(opts);
  const ageing = opts.ageing ?? 'hardware';
  const tcpSeqCheck = opts.tcpSeqCheck ?? ageing === 'exact';
  const exceptions = tcpSeqCheck ? [...EXCEPTIONS] : [...EXCEPTIONS, tcpSeqChkDisabledRule(policy, config)];
  return {
    target: () => createBmv2Target({ ...opts, offloadConfig: config, ageing, tcpSeqCheck }),
    reference: async () => new ModelTarget(new ContractEngine(config)),
    exceptions,
    ageing,
  };
}
