// The output of bench/ngtcp2.ts: markdown tables (columns named once, cells formatted per column).

export const round = (v: number, d: number) => Math.round(v * 10 ** d) / 10 ** d;

/** A cell: a number with `d` decimals, '-' for a figure a row does not have. */
export const num = (v: number | undefined, d: number) =>
  v === undefined || !Number.isFinite(v) ? '-' : v.toFixed(d);

/** A markdown table; columns after the first are right-aligned. */
export function markdownTable(
  head: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const width = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: readonly string[]) =>
    `| ${cells.map((c, i) => (i === 0 ? c.padEnd(width[i]!) : c.padStart(width[i]!))).join(' | ')} |`;
  const rule = `|${width.map((w, i) => (i === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}|`;
  return [line(head), rule, ...rows.map(line)].join('\n');
}
