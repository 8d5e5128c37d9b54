import { describeWithTools, P4C_TOOL } from '../support/tools.js';
import { matrixPart } from './matrix-policies.js';
import { matrixSuite } from './p4c-matrix.js';

describeWithTools('generated programs compile with p4c-bm2-ss (matrix part b)', [P4C_TOOL], () => matrixSuite(matrixPart(1)));
