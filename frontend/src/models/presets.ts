/** Provider presets for the "Add model" form, and the pure helpers of the Models page. Every
 * provider is reached over the OpenAI-compatible protocol, so a preset is only a base URL, whether
 * it needs a key, and sensible defaults. */

export interface Preset {
  id: string;
  label: string;
  baseUrl: string;
  /** Shown under the URL field when the URL has a part to fill in. */
  urlHint?: string;
  needsKey: boolean;
  /** Lists its models at GET {baseUrl}/models. */
  lists: boolean;
  example: string;
  tools?: boolean;
}

export const PRESETS: readonly Preset[] = [
  { id: "openai", label: "OpenAI", baseUrl: "https://api.openai.com/v1", needsKey: true, lists: true, example: "gpt-4o-mini", tools: true },
  {
    id: "azure",
    label: "Azure OpenAI",
    baseUrl: "https://YOUR-RESOURCE.openai.azure.com/openai/v1",
    urlHint: "Replace YOUR-RESOURCE with your Azure OpenAI resource name; the model is your deployment's name.",
    needsKey: true,
    lists: true,
    example: "my-gpt-4o-deployment",
    tools: true,
  },
  {
    id: "anthropic",
    label: "Anthropic (OpenAI-compatible)",
    baseUrl: "https://api.anthropic.com/v1",
    needsKey: true,
    lists: true,
    example: "claude-sonnet-4-5",
    tools: true,
  },
  { id: "mistral", label: "Mistral", baseUrl: "https://api.mistral.ai/v1", needsKey: true, lists: true, example: "mistral-small-latest", tools: true },
  { id: "groq", label: "Groq", baseUrl: "https://api.groq.com/openai/v1", needsKey: true, lists: true, example: "llama-3.1-8b-instant", tools: true },
  { id: "together", label: "Together", baseUrl: "https://api.together.xyz/v1", needsKey: true, lists: true, example: "meta-llama/Llama-3.3-70B-Instruct-Turbo" },
  { id: "openrouter", label: "OpenRouter", baseUrl: "https://openrouter.ai/api/v1", needsKey: true, lists: true, example: "openai/gpt-4o-mini" },
  {
    id: "ollama",
    label: "Ollama",
    baseUrl: "http://ollama:11434/v1",
    urlHint: "Where Ollama runs as the server sees it; private addresses must be allowed by the operator (TRELLIS_EGRESS_ALLOW).",
    needsKey: false,
    lists: true,
    example: "llama3.2",
  },
  {
    id: "lmstudio",
    label: "LM Studio",
    baseUrl: "http://lmstudio:1234/v1",
    urlHint: "LM Studio's server address as the Trellis server sees it; the operator allows private addresses.",
    needsKey: false,
    lists: true,
    example: "qwen2.5-7b-instruct",
  },
  {
    id: "vllm",
    label: "vLLM or TGI server",
    baseUrl: "http://vllm:8000/v1",
    urlHint: "Your server's OpenAI-compatible address (vLLM serves /v1; TGI's Messages API too).",
    needsKey: false,
    lists: true,
    example: "meta-llama/Llama-3.1-8B-Instruct",
  },
  { id: "custom", label: "Any OpenAI-compatible URL", baseUrl: "", needsKey: false, lists: true, example: "model-name" },
];

export function presetFor(baseUrl: string): Preset | undefined {
  const url = baseUrl.replace(/\/+$/, "");
  return PRESETS.find((p) => p.baseUrl && p.id !== "custom" && p.baseUrl === url);
}

/** "gpt-4o-mini" -> "gpt-4o-mini"; "meta-llama/Llama-3.3-70B" -> "llama-3-3-70b": a valid alias. */
export function suggestAlias(model: string): string {
  const last = model.split("/").pop() ?? model;
  return last
    .toLowerCase()
    .replace(/[^a-z0-9_-]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 64);
}

export interface TestFigures {
  ttftMs: number | null;
  tokensPerS: number | null;
  cost: number;
}

/** TTFT, tokens per second after the first token, and cost at the endpoint's prices per 1k. */
export function testFigures(
  done: { input_tokens: number; output_tokens: number; latency_ms: number; ttft_ms: number | null },
  prices: { in: string | number; out: string | number },
): TestFigures {
  const cost = (done.input_tokens * Number(prices.in) + done.output_tokens * Number(prices.out)) / 1000;
  const streamingMs = done.ttft_ms != null ? done.latency_ms - done.ttft_ms : done.latency_ms;
  const after = Math.max(0, done.output_tokens - 1);
  const tokensPerS = after > 0 && streamingMs > 0 ? (after * 1000) / streamingMs : null;
  return { ttftMs: done.ttft_ms, tokensPerS, cost: Number.isFinite(cost) ? cost : 0 };
}

export function formatCost(value: number | string): string {
  const n = Number(value);
  if (!Number.isFinite(n) || n === 0) return "$0";
  if (n < 0.01) return `$${n.toPrecision(2)}`;
  return `$${n.toFixed(n < 10 ? 4 : 2)}`;
}

export function formatTokens(n: number | null | undefined): string {
  if (n == null) return "—";
  const short = (value: number) => value.toFixed(1).replace(/\.0$/, "");
  if (n >= 1_000_000) return `${short(n / 1_000_000)}M`;
  if (n >= 1000) return `${short(n / 1000)}k`;
  return String(n);
}

/** Moves item `index` one place up (-1) or down (+1); out of range: unchanged. */
export function moved<T>(items: readonly T[], index: number, by: -1 | 1): T[] {
  const target = index + by;
  if (index < 0 || index >= items.length || target < 0 || target >= items.length) return [...items];
  const next = [...items];
  [next[index], next[target]] = [next[target] as T, next[index] as T];
  return next;
}
