/** The runs page's filters live in the URL (?status=failed&q=refund...), so a view can be shared
 *  and survives a reload. Pure functions: tested without a browser. */

export const FILTER_KEYS = [
  "flow",
  "version",
  "source",
  "status",
  "error_code",
  "model",
  "since",
  "until",
  "user",
  "visitor",
  "feedback",
  "q",
] as const;

export type FilterKey = (typeof FILTER_KEYS)[number];
export type RunFilters = Partial<Record<FilterKey, string>>;

export const SOURCES = [
  ["playground", "Playground"],
  ["api", "API"],
  ["openai", "OpenAI-compatible"],
  ["widget", "Widget"],
  ["evaluation", "Evaluation"],
] as const;

export const STATUSES = [
  ["completed", "Completed"],
  ["failed", "Failed"],
  ["running", "Running"],
  ["cancelled", "Cancelled"],
] as const;

export const RANGES = [
  ["1h", "Last hour", 3600],
  ["24h", "Last 24 hours", 24 * 3600],
  ["7d", "Last 7 days", 7 * 24 * 3600],
  ["30d", "Last 30 days", 30 * 24 * 3600],
] as const;

export function filtersFromParams(params: URLSearchParams): RunFilters {
  const filters: RunFilters = {};
  for (const key of FILTER_KEYS) {
    const value = params.get(key)?.trim();
    if (value) filters[key] = value;
  }
  return filters;
}

/** The URL's params with these changed (an empty or null value removes its key); the rest stay. */
export function withParams(params: URLSearchParams, changes: Record<string, string | null>): URLSearchParams {
  const next = new URLSearchParams(params);
  for (const [key, value] of Object.entries(changes)) {
    if (value) next.set(key, value);
    else next.delete(key);
  }
  return next;
}

/** The URL's params with one filter changed (empty removes it); the open run and others stay. */
export function withFilter(params: URLSearchParams, key: FilterKey, value: string): URLSearchParams {
  const next = new URLSearchParams(params);
  if (value.trim()) next.set(key, value.trim());
  else next.delete(key);
  if (key === "flow") next.delete("version"); // a version number means nothing without its flow
  return next;
}

export function withoutFilters(params: URLSearchParams): URLSearchParams {
  const next = new URLSearchParams(params);
  for (const key of FILTER_KEYS) next.delete(key);
  return next;
}

/** A relative range ("24h") becomes `since` as an ISO time, computed when the query runs. */
export function toQuery(filters: RunFilters, now: Date = new Date()): Record<string, string | number> {
  const query: Record<string, string | number> = {};
  for (const [key, value] of Object.entries(filters)) {
    if (!value) continue;
    if (key === "since") {
      const range = RANGES.find(([id]) => id === value);
      query.since = range ? new Date(now.getTime() - range[2] * 1000).toISOString() : value;
    } else if (key === "version") {
      const number = Number.parseInt(value, 10);
      if (Number.isFinite(number) && number > 0) query.version = number;
    } else if (key === "user" && !value.includes("@")) {
      continue; // not an email yet: the server would refuse it
    } else {
      query[key] = value;
    }
  }
  return query;
}

export function countFilters(filters: RunFilters): number {
  return Object.values(filters).filter(Boolean).length;
}
