import { describeWithTools } from '../support/tools.js';
import { MATRIX_A } from './matrix-policies.js';
import { matrixSuite } from './p4c-matrix.js';

describeWithTools('generated programs compile with p4c-bm2-ss (matrix A)', [{ cmd: 'p4c-bm2-ss', env: 'CTOFFLOAD_P4C', install: 'build p4lang/p4c (see README)' }], () => matrixSuite(MATRIX_A));
