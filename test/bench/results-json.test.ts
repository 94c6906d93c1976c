// bench/results.json's layout: the same data as JSON.stringify gives, with each object or array
// that holds no other on one line.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { compactJson, RESULTS_FILE } from '../../bench/report.ts';

describe('compactJson', () => {
  it('keeps leaf objects and arrays on one line and indents the rest by two', () => {
    const value = { mode: 'soak', series: { ingress: [{ t: 0, rss: 1 }, { t: 10, rss: null }] }, empty: {}, list: [1, 'a'], nested: [[1], 2] };
    expect(compactJson(value)).toBe([
      '{',
      '  "mode": "soak",',
      '  "series": {',
      '    "ingress": [',
      '      {"t":0,"rss":1},',
      '      {"t":10,"rss":null}',
      '    ]',
      '  },',
      '  "empty": {},',
      '  "list": [1,"a"],',
      '  "nested": [',
      '    [1],',
      '    2',
      '  ]',
      '}',
    ].join('\n'));
  });

  it('reads back as the value it wrote, the checked-in results included', () => {
    const results = JSON.parse(readFileSync(RESULTS_FILE, 'utf8')) as unknown;
    expect(JSON.parse(compactJson(results))).toEqual(results);
  });
});
