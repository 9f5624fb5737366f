/** Pure helpers of the results view (no React). */

export type Summary = {
  evaluators?: Record<string, { kind?: string; mean?: number | null; ci_low?: number | null; ci_high?: number | null; n?: number }>;
  comparison?: Record<string, { mean_difference: number; p_value: number; significant: boolean; direction: string }>;
  gate?: { passed: boolean; checks: { evaluator: string; threshold: number; mean: number | null; passed: boolean }[] };
  /** What the judges' model calls cost (part of the evaluation's cost), a decimal string. */
  judge_cost?: string;
};

/** Counts of values in `bins` equal-width bins over [0, 1] (1.0 falls in the last bin). */
export function histogram(values: number[], bins = 10): number[] {
  const counts = new Array<number>(bins).fill(0);
  for (const value of values) {
    if (!Number.isFinite(value)) continue;
    const index = Math.min(bins - 1, Math.max(0, Math.floor(value * bins)));
    counts[index] = (counts[index] ?? 0) + 1;
  }
  return counts;
}

export const score = (value: number | null | undefined) => (value === null || value === undefined ? "–" : value.toFixed(3));

export function interval(low: number | null | undefined, high: number | null | undefined): string {
  return low === null || low === undefined || high === null || high === undefined
    ? "–"
    : `[${low.toFixed(3)}, ${high.toFixed(3)}]`;
}

/** "better (p = 0.004)", "worse (p = …)" or "no significant difference (p = …)". */
export function verdict(comparison: { significant: boolean; direction: string; p_value: number }): string {
  const p = comparison.p_value < 0.001 ? "p < 0.001" : `p = ${comparison.p_value.toFixed(3)}`;
  return comparison.significant ? `${comparison.direction} (${p})` : `no significant difference (${p})`;
}

/** Per evaluator, the per-sample scores of item rows (for the distribution chart). */
export function sampleScores(rows: { samples: { scores?: unknown }[] }[], evaluator: string): number[] {
  const values: number[] = [];
  for (const row of rows) {
    for (const sample of row.samples) {
      const entry = (sample.scores as Record<string, { score?: number | null }> | null)?.[evaluator];
      if (typeof entry?.score === "number") values.push(entry.score);
    }
  }
  return values;
}

/** Table editor rows <-> dataset items: tags and sources as comma-separated text. */
export type EditorRow = { key?: string; message: string; expected_output: string; tags: string; expected_sources: string };

export const splitList = (text: string) =>
  text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean);

export function toItem(row: EditorRow): Record<string, unknown> {
  return {
    ...(row.key ? { key: row.key } : {}),
    message: row.message,
    expected_output: row.expected_output,
    tags: splitList(row.tags),
    expected_sources: splitList(row.expected_sources),
  };
}
