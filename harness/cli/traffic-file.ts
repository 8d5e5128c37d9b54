/**
 * `--traffic FILE`: traffic options (harness/arbitraries TrafficOptions) read, parsed and
 * checked before anything starts, every error naming the file and, where there is one, the
 * line and column (a JSON syntax error, the key a bad or unknown option sits at).
 */
import { readFileSync } from 'node:fs';
import { CtoffloadError, errnoText } from '../../model/errors.js';
import { scenarioArb, type TrafficOptions } from '../arbitraries/index.js';

export class TrafficFileError extends CtoffloadError {
  constructor(message: string, options?: { cause?: unknown }) {
    super('CTO_CLI_TRAFFIC', message, options);
  }
}

/** 1-based line:column of character offset `pos` in `text`. */
export function lineColumn(text: string, pos: number): string {
  const before = text.slice(0, Math.max(0, Math.min(pos, text.length)));
  const line = before.split('\n').length;
  const col = pos - before.lastIndexOf('\n');
  return `${line}:${col}`;
}

/** Where the JSON key `"key"` (the last path segment) first appears, as `:line:col`, or ''. */
function keyPlace(text: string, path: string): string {
  const key = path.split(/[.,\s]/).filter(Boolean).pop();
  if (!key) return '';
  const at = text.indexOf(JSON.stringify(key));
  return at < 0 ? '' : `:${lineColumn(text, at)}`;
}

export function parseTrafficText(text: string, file: string): TrafficOptions {
  let j: unknown;
  try {
    j = JSON.parse(text);
  } catch (e) {
    const msg = (e as Error).message;
    // V8: "… in JSON at position 17" (Node 20) or "… (line 2 column 5)" (later).
    const pos = /at position (\d+)/.exec(msg);
    const lc = /line (\d+) column (\d+)/.exec(msg);
    const where = lc ? `:${lc[1]}:${lc[2]}` : pos ? `:${lineColumn(text, Number(pos[1]))}` : '';
    throw new TrafficFileError(`--traffic ${file}${where}: not valid JSON: ${msg.replace(/ in JSON at position \d+.*$/, '')}`);
  }
  try {
    scenarioArb(j as TrafficOptions); // every check of the options (CTO_TRAFFIC_OPTIONS), now
  } catch (e) {
    const err = e as CtoffloadError & { option?: string };
    if (err?.code !== 'CTO_TRAFFIC_OPTIONS') throw e;
    const place = err.option ? keyPlace(text, err.option) : '';
    throw new TrafficFileError(`--traffic ${file}${place}: ${err.message}`, { cause: e });
  }
  return j as TrafficOptions;
}

export function readTrafficFile(file: string): TrafficOptions {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new TrafficFileError(`--traffic ${file}: cannot read the traffic options: ${errnoText(e)}`, { cause: e });
  }
  return parseTrafficText(text, file);
}
