/** A time series as bars, drawn by uPlot (a maintained canvas chart library): hover shows the
 *  point's value, the axes are labelled, and it follows its container's width. The figure's
 *  label carries a text summary for screen readers. */
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";

export type ChartPoint = { key: string; label: string };

/** The x range (epoch seconds) for bars at `xs`: half a bucket of room on each side. uPlot's own
 *  range for a single point spans years (one day of runs read "2027 2028 2029" on its axis), so
 *  the range is given: the bucket is the points' smallest gap, else a day for day keys, an hour
 *  for hour keys. */
export function xRange(xs: number[], dayKeys: boolean): [number, number] | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  let step = dayKeys ? 86_400 : 3_600;
  sorted.forEach((x, i) => {
    const gap = i > 0 ? x - (sorted[i - 1] ?? x) : 0;
    if (gap > 0 && gap < step) step = gap;
  });
  return [Math.min(...sorted) - step / 2, Math.max(...sorted) + step / 2];
}

function cssColor(name: string, fallback: string): string {
  const value = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return value || fallback;
}

export function TimeChart<P extends ChartPoint>({ title, points, value, format, empty }: {
  title: string;
  points: P[];
  value: (point: P) => number | null | undefined;
  format: (v: number) => string;
  /** Said in words instead of an empty plot when no point has a value. */
  empty?: string;
}) {
  const box = useRef<HTMLDivElement>(null);
  const values = points.map((p) => value(p) ?? null);
  const numbers = values.filter((v): v is number => v !== null);
  const max = numbers.length ? Math.max(...numbers) : 0;
  const summary = `${title}: ${points.length} point${points.length === 1 ? "" : "s"}, max ${format(max)}`;
  const xs = points.map((p) => Date.parse(p.key.length === 10 ? `${p.key}T00:00:00Z` : p.key) / 1000);
  const key = JSON.stringify([xs, values]);
  const dayKeys = points.every((p) => p.key.length === 10);

  const blank = empty !== undefined && numbers.length === 0;

  useEffect(() => {
    const element = box.current;
    if (!element || blank) return;
    const color = cssColor("--color-brand", "#4f46e5");
    const chart = new uPlot(
      {
        width: Math.max(element.clientWidth, 160),
        height: 120,
        legend: { show: false },
        cursor: { points: { show: false } },
        scales: {
          x: { time: true, range: (_u, min, max) => xRange(xs, dayKeys) ?? [min, max] },
          y: { range: (_u, _min, dataMax) => [0, dataMax > 0 ? dataMax * 1.1 : 1] },
        },
        axes: [
          { size: 28, font: "11px system-ui", stroke: cssColor("--color-text-muted", "#666") },
          {
            size: 56,
            font: "11px system-ui",
            stroke: cssColor("--color-text-muted", "#666"),
            values: (_u, splits) => splits.map((v) => format(v)),
          },
        ],
        series: [
          {},
          {
            label: title,
            stroke: color,
            fill: color,
            value: (_u, v) => (v === null ? "—" : format(v)),
            paths: uPlot.paths.bars?.({ size: [0.7, 40] }),
            points: { show: false },
          },
        ],
      },
      [xs, values],
      element,
    );
    const resize = new ResizeObserver(() => chart.setSize({ width: Math.max(element.clientWidth, 160), height: 120 }));
    resize.observe(element);
    return () => {
      resize.disconnect();
      chart.destroy();
    };
    // `key` stands for the data: a new array of the same numbers draws nothing new.
  }, [key, title, blank]);

  return (
    <figure className="chart" aria-label={title}>
      <figcaption className="chart__title">{title}</figcaption>
      {blank ? (
        <p className="chart__empty muted">{empty}</p>
      ) : (
        <div ref={box} className="chart__plot" role="img" aria-label={summary} data-points={points.length} />
      )}
    </figure>
  );
}
