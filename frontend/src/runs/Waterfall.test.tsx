/** The trace marks a node answered from the response cache, and says which cache and what it saved. */
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import type { WaterfallSpan } from "./api";
import { cacheNote, Waterfall } from "./Waterfall";

const span = (node: string, calls: number[]): WaterfallSpan => ({
  node,
  node_type: "llm",
  status: "ok",
  offset_ms: 0,
  duration_ms: 2,
  input_tokens: 0,
  output_tokens: 0,
  cost: "0",
  input_preview: "",
  output_preview: "",
  error_code: "",
  error_message: "",
  model_calls: calls,
});

const call = (id: number, served_by: string, attempts: unknown[] = []) => ({
  id,
  alias: "gpt",
  served_by,
  status: "ok" as const,
  attempts,
  input_tokens: 0,
  output_tokens: 0,
  cost: "0",
  latency_ms: 1.5,
  at: "2026-01-01T00:00:00Z",
});

describe("the cached marker", () => {
  it("names the cache, the similarity and what it saved; nothing for a model's answer", () => {
    expect(cacheNote(call(1, "semantic-cache", [{ cache: "semantic", similarity: 0.9312, saved: "0.0004" }]))).toMatch(
      /^answered from the semantic cache \(similarity 0\.93\), saved /,
    );
    expect(cacheNote(call(2, "cache", [{ cache: "exact", saved: "0.01" }]))).toMatch(/^answered from the exact cache, saved /);
    expect(cacheNote(call(3, "gpt"))).toBeNull();
    expect(cacheNote(call(4, "gpt-fallback"))).toBeNull();
  });

  it("badges the cached node in the trace and explains it when opened", async () => {
    const user = userEvent.setup();
    render(
      <Waterfall
        spans={[span("first", [1]), span("second", [2])]}
        calls={[call(1, "gpt"), call(2, "cache", [{ cache: "exact", saved: "0.01" }])]}
      />,
    );
    const rows = screen.getAllByRole("listitem");
    expect(rows[0]).not.toHaveTextContent("cached");
    expect(rows[1]).toHaveTextContent("cached");
    await user.click(screen.getByRole("button", { name: /second/ }));
    expect(rows[1]).toHaveTextContent("answered from the exact cache");
    expect(rows[1]).not.toHaveTextContent("fallback");
  });
});
