import { describe, expect, it } from "vitest";
import { xRange } from "./TimeChart";

const day = (iso: string) => Date.parse(`${iso}T00:00:00Z`) / 1000;

describe("xRange", () => {
  it("gives one day of runs a day-wide axis, not uPlot's years", () => {
    // One day of data drew "2027 2028 2029" under a bar of 5 December 2026.
    const [from, to] = xRange([day("2026-12-05")], true) ?? [0, 0];
    expect(to - from).toBe(86_400);
    expect(new Date(from * 1000).toISOString()).toBe("2026-12-04T12:00:00.000Z");
    expect(new Date(to * 1000).toISOString()).toBe("2026-12-05T12:00:00.000Z");
  });

  it("gives one hour an hour-wide axis, and several points half their gap on each side", () => {
    const hour = Date.parse("2026-12-05T10:00:00Z") / 1000;
    expect(xRange([hour], false)).toEqual([hour - 1_800, hour + 1_800]);
    expect(xRange([day("2026-12-05"), day("2026-12-01"), day("2026-12-03")], true)).toEqual([
      day("2026-12-01") - 43_200,
      day("2026-12-05") + 43_200,
    ]);
  });

  it("leaves an empty series to uPlot", () => {
    expect(xRange([], true)).toBeNull();
  });
});
