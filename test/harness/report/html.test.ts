/** The HTML report's inline SVG charts and escaping. */
import { describe, expect, it } from 'vitest';
import { barChart, htmlEscape, rateChart } from '../../../harness/report/index.js';

describe('charts', () => {
  it('barChart draws one bar per entry, longest for the largest value', () => {
    const svg = barChart('kinds', [['ct-state', 4], ['outputs-missing', 1]]);
    const widths = [...svg.matchAll(/<rect x="\d+" y="\d+" width="(\d+)"/g)].map((m) => Number(m[1]));
    expect(widths).toHaveLength(2);
    expect(widths[0]).toBeGreaterThan(widths[1]! * 3);
    expect(svg).toContain('>ct-state<');
    expect(barChart('none', [])).toContain('none');
  });

  it('rateChart plots rates over intervals of at least 500 ms', () => {
    const svg = rateChart('rate', [{ t: 0, packets: 0 }, { t: 1000, packets: 100 }, { t: 2000, packets: 300 }, { t: 2005, packets: 310 }]);
    const path = /<path d="([^"]+)"/.exec(svg)![1]!;
    expect(path.match(/[ML]/g)).toHaveLength(2); // the 5 ms tail is not a point of its own
    expect(svg).toContain('>200<'); // y axis maximum: 200 packets/s
    expect(rateChart('rate', [{ t: 0, packets: 0 }])).toContain('too short');
  });

  it('htmlEscape escapes markup', () => {
    expect(htmlEscape('<a href="x">&</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&lt;/a&gt;');
  });
});
