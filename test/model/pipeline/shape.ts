import type { Flow } from '../../../model/pipeline/index.js';

/** A flow without positions/text, for structural comparison across print/parse. */
export function shape(f: Flow): unknown {
  return {
    table: f.table,
    priority: f.priority,
    cookie: f.cookie,
    match: f.match.map(({ name, value, mask }) => ({ name, value, mask })),
    actions: f.actions.map((a) => {
      const { pos: _p, ...rest } = a;
      if (rest.kind === 'ct') return { ...rest, exec: rest.exec.map(({ pos: _q, ...w }) => w) };
      return rest;
    }),
  };
}
