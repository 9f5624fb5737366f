import { describe, expect, it } from "vitest";
import { engineArgs } from "./DeploymentsPanel";

describe("engineArgs", () => {
  it("turns the form into the API's engine arguments, leaving blanks out", () => {
    expect(engineArgs({ max_model_len: "2048", dtype: "float32", enforce_eager: "true", max_num_seqs: "" })).toEqual({
      max_model_len: 2048,
      dtype: "float32",
      enforce_eager: true,
    });
  });

  it("says what is wrong in words", () => {
    expect(engineArgs({ max_model_len: "8" })).toBe("Context window (tokens): between 16 and 1048576.");
    expect(engineArgs({ max_num_seqs: "2.5" })).toBe("Parallel answers: enter a whole number.");
    expect(engineArgs({ gpu_memory_utilization: "abc" })).toBe("GPU memory share: enter a number.");
  });
});
