/** The exceptions table is well formed and harness/EXCEPTIONS.md lists exactly its rows. */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { EXCEPTIONS, validateExceptions } from '../../../harness/exceptions.js';

describe('exceptions table', () => {
  it('has unique kebab-case ids, reasons, sources, targets and kinds', () => {
    expect(validateExceptions(EXCEPTIONS)).toEqual([]);
    expect(validateExceptions([
      { id: 'Bad Id', kind: 'defect', targets: [], kinds: [], reason: '', source: '', predicate: () => true },
    ])).toHaveLength(5);
  });

  it('is documented row for row in harness/EXCEPTIONS.md', () => {
    const md = readFileSync(new URL('../../../harness/EXCEPTIONS.md', import.meta.url), 'utf8');
    const rows = md.split('\n').filter((l) => /^\| `?[a-z0-9-]+`? \|/.test(l) && !l.startsWith('| id |')).map((l) => l.split('|')[1]!.trim().replace(/`/g, ''));
    expect(rows.sort()).toEqual(EXCEPTIONS.map((x) => x.id).sort());
  });
});
