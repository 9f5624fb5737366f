import { describe, expect, it } from "vitest";
import { filtersFromParams, toQuery, withFilter, withParams, withoutFilters } from "./filters";
import { barGeometry, formatCost, formatMs, waterfallTotal } from "./format";

describe("run filters in the URL", () => {
  it("reads known, non-empty filters and ignores the rest", () => {
    const params = new URLSearchParams("status=failed&q=%20refund%20&run=abc&colour=red&source=");
    expect(filtersFromParams(params)).toEqual({ status: "failed", q: "refund" });
  });

  it("changes one filter, keeps the open run, and drops the version with the flow", () => {
    const params = new URLSearchParams("flow=f1&version=3&run=r1");
    const next = withFilter(params, "flow", "f2");
    expect(next.get("flow")).toBe("f2");
    expect(next.get("version")).toBeNull();
    expect(next.get("run")).toBe("r1");
    expect(withFilter(next, "flow", "").has("flow")).toBe(false);
    expect(withoutFilters(new URLSearchParams("q=x&status=failed&run=r1")).toString()).toBe("run=r1");
  });

  it("turns a relative range into since, and skips values the server would refuse", () => {
    const now = new Date("2026-03-01T12:00:00Z");
    expect(toQuery({ since: "24h", version: "2", user: "ann", q: "hours" }, now)).toEqual({
      since: "2026-02-28T12:00:00.000Z",
      version: 2,
      q: "hours",
    });
    expect(toQuery({ version: "latest", user: "ann@example.com" }, now)).toEqual({ user: "ann@example.com" });
  });
});

describe("run figures", () => {
  it("formats durations and costs for people", () => {
    expect(formatMs(null)).toBe("—");
    expect(formatMs(412.4)).toBe("412 ms");
    expect(formatMs(2345)).toBe("2.35 s");
    expect(formatMs(125_000)).toBe("2 min 5 s");
    expect(formatCost("0")).toBe("$0");
    expect(formatCost("0.000123")).toBe("$0.0001");
    expect(formatCost("1.5")).toBe("$1.50");
  });

  it("places waterfall bars on the run's time line", () => {
    const spans = [
      { offset_ms: 0, duration_ms: 10 },
      { offset_ms: 10, duration_ms: 190 },
    ];
    const total = waterfallTotal(spans);
    expect(total).toBe(200);
    expect(barGeometry(10, 190, total)).toEqual({ left: 5, width: 95 });
    expect(barGeometry(null, null, total)).toEqual({ left: 0, width: 0.5 });
  });

  it("changes several params at once, an empty or null value removing its key", () => {
    const params = new URLSearchParams("view=runs&run=r1&ddays=7");
    const next = withParams(params, { view: "dashboard", run: null, ddays: "", dflow: "f1" });
    expect(next.toString()).toBe("view=dashboard&dflow=f1");
    expect(params.toString()).toBe("view=runs&run=r1&ddays=7"); // the given params are not changed
  });
});
