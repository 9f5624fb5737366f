/** Run figures as people read them. Pure; tested. */

export function formatMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "—";
  if (ms < 1) return "<1 ms";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(ms < 10_000 ? 2 : 1)} s`;
  const minutes = Math.floor(ms / 60_000);
  return `${minutes} min ${Math.round((ms % 60_000) / 1000)} s`;
}

export function formatCost(cost: string | number | null | undefined): string {
  const value = typeof cost === "string" ? Number.parseFloat(cost) : (cost ?? 0);
  if (!value) return "$0";
  if (value < 0.01) return `$${value.toFixed(4)}`;
  return `$${value.toFixed(2)}`;
}

export function formatTokens(input: number, output: number): string {
  return `${input.toLocaleString()} → ${output.toLocaleString()}`;
}

/** Bars of a waterfall: left offset and width as percentages of the run's span of time. */
export function barGeometry(
  offsetMs: number | null,
  durationMs: number | null,
  totalMs: number,
): { left: number; width: number } {
  const total = Math.max(totalMs, 1);
  const left = Math.min(100, Math.max(0, ((offsetMs ?? 0) / total) * 100));
  const width = Math.max(0.5, Math.min(100 - left, ((durationMs ?? 0) / total) * 100));
  return { left, width };
}

export function waterfallTotal(spans: { offset_ms: number | null; duration_ms: number | null }[]): number {
  return spans.reduce((end, s) => Math.max(end, (s.offset_ms ?? 0) + (s.duration_ms ?? 0)), 0);
}
