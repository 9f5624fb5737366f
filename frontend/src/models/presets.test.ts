import { describe, expect, it } from "vitest";
import { formatCost, formatTokens, moved, PRESETS, presetFor, suggestAlias, testFigures } from "./presets";

describe("presets", () => {
  it("covers the providers a business user asks for, each with an OpenAI-compatible URL", () => {
    const labels = PRESETS.map((p) => p.label).join(" | ");
    for (const name of ["OpenAI", "Azure OpenAI", "Anthropic", "Mistral", "Groq", "Together", "OpenRouter", "Ollama", "LM Studio", "vLLM", "Any OpenAI-compatible URL"]) {
      expect(labels).toContain(name);
    }
    for (const preset of PRESETS.filter((p) => p.id !== "custom")) expect(preset.baseUrl).toMatch(/^https?:\/\/.+\/v1$/);
  });

  it("recognises a preset from its URL, with or without a trailing slash", () => {
    expect(presetFor("https://api.mistral.ai/v1/")?.id).toBe("mistral");
    expect(presetFor("http://10.0.0.5:8000/v1")).toBeUndefined();
  });

  it("suggests a valid alias from a model name", () => {
    expect(suggestAlias("meta-llama/Llama-3.3-70B-Instruct-Turbo")).toBe("llama-3-3-70b-instruct-turbo");
    expect(suggestAlias("gpt-4o-mini")).toBe("gpt-4o-mini");
  });

  it("computes TTFT, tokens per second after the first token, and cost at the prices per 1k", () => {
    const figures = testFigures(
      { input_tokens: 1000, output_tokens: 11, latency_ms: 600, ttft_ms: 100 },
      { in: "0.5", out: "1.5" },
    );
    expect(figures.ttftMs).toBe(100);
    expect(figures.tokensPerS).toBeCloseTo(20);
    expect(figures.cost).toBeCloseTo(0.5 + 0.0165);
    expect(testFigures({ input_tokens: 3, output_tokens: 1, latency_ms: 50, ttft_ms: 50 }, { in: 0, out: 0 }).tokensPerS).toBeNull();
  });

  it("formats costs and moves fallbacks up and down", () => {
    expect(formatCost(0)).toBe("$0");
    expect(formatCost("0.0005")).toBe("$0.00050");
    expect(formatCost(1.23456)).toBe("$1.2346");
    expect([formatTokens(2048), formatTokens(8192), formatTokens(128000), formatTokens(512)]).toEqual(["2k", "8.2k", "128k", "512"]);
    expect(moved(["a", "b", "c"], 2, -1)).toEqual(["a", "c", "b"]);
    expect(moved(["a", "b", "c"], 0, -1)).toEqual(["a", "b", "c"]);
  });
});
