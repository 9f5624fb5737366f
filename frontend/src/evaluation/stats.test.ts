import { describe, expect, it } from "vitest";
import { histogram, interval, sampleScores, toItem, verdict } from "./stats";

describe("evaluation helpers", () => {
  it("bins scores over [0, 1] with 1.0 in the last bin", () => {
    expect(histogram([0, 0.05, 0.5, 0.99, 1], 4)).toEqual([2, 0, 1, 2]);
  });
  it("says whether a difference is significant", () => {
    expect(verdict({ significant: true, direction: "worse", p_value: 0.0004 })).toBe("worse (p < 0.001)");
    expect(verdict({ significant: false, direction: "same", p_value: 0.41 })).toBe("no significant difference (p = 0.410)");
    expect(interval(0.1, 0.25)).toBe("[0.100, 0.250]");
    expect(interval(null, 1)).toBe("–");
  });
  it("reads per-sample scores and editor rows", () => {
    const rows = [{ samples: [{ scores: { e: { score: 1 } } }, { scores: { e: { score: null } } }] }];
    expect(sampleScores(rows, "e")).toEqual([1]);
    expect(toItem({ message: "hi", expected_output: "", tags: "a, b", expected_sources: "" })).toEqual({
      message: "hi",
      expected_output: "",
      tags: ["a", "b"],
      expected_sources: [],
    });
  });
});
