import { describeWithTools } from '../support/tools.js';
import { matrixPart } from './matrix-policies.js';
import { matrixSuite } from './p4c-matrix.js';

describeWithTools('generated programs compile with p4c-bm2-ss (matrix part b)', [{ cmd: 'p4c-bm2-ss', env: 'CTOFFLOAD_P4C', install: 'build p4lang/p4c (see README)' }], () => matrixSuite(matrixPart(1)));
