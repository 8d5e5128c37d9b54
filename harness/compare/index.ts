/** Public API of harness/compare: per-packet Verdict comparison with the exceptions table. */
export * from './types.js';
export {
  compareVerdicts, diffVerdicts, normalizeOutputs, tupleVisible, formatVerdict, formatComparison, formatCtFieldsShort, portName, hex,
} from './compare.js';
export { EXCEPTIONS, findException, validateExceptions, type ExceptionRule, type ExceptionKind } from '../exceptions.js';
