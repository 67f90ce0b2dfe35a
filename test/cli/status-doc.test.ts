// The README's exit-status table lists exactly STATUS_TABLE (src/vmm/status.ts), and its table of
// stop kinds exactly STOP_KINDS: the documentation cannot drift from the code.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { STATUS_TABLE, STOP_KINDS, documentedStatuses } from '../../src/vmm/status.js';

const readme = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** The rows of the first Markdown table after `heading`, each as its cells. */
function tableAfter(text: string, heading: string, header: string): string[][] {
  const start = text.indexOf(`\n${heading}\n`);
  expect(start, `README has no ${heading}`).toBeGreaterThanOrEqual(0);
  const lines = text.slice(start).split('\n');
  const top = lines.findIndex((l) => l.startsWith(header));
  expect(top, `no table starting "${header}" under ${heading}`).toBeGreaterThan(0);
  const rows: string[][] = [];
  for (const line of lines.slice(top + 2)) {
    if (!line.startsWith('|')) break;
    // Cells split at | not escaped as \|.
    rows.push(line.slice(1, -1).split(/(?<!\\)\|/).map((c) => c.trim().replace(/\\\|/g, '|')));
  }
  return rows;
}

describe('README: exit statuses', () => {
  it('the table lists exactly STATUS_TABLE, in order, with the same words', () => {
    const rows = tableAfter(readme, '## Exit status', '| code | meaning |');
    expect(rows.map(([codes, meaning]) => ({ codes: codes.split(/,\s*/).map(Number), meaning }))).toEqual(
      STATUS_TABLE.map((r) => ({ codes: [...r.codes], meaning: r.meaning })),
    );
    expect(rows.flatMap(([codes]) => codes.split(/,\s*/).map(Number))).toEqual(documentedStatuses());
  });

  it('the stop-kind table lists exactly STOP_KINDS', () => {
    const rows = tableAfter(readme, '## Exit status', '| stop | status |');
    expect(rows.map(([kind]) => kind.replace(/`/g, ''))).toEqual([...STOP_KINDS]);
  });
});
