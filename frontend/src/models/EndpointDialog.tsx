/**
 * "Add model" / "Edit model": a provider preset fills the OpenAI-compatible base URL; the model is
 * picked from what the server lists (fetched by the Trellis server, through its egress policy)
 * or typed; the API key is write-only. Changing the URL of an endpoint that has a key asks for the
 * key again or an explicit "clear the key", so a stored key never follows a URL to another server.
 */
import { useMemo, useState, type FormEvent } from "react";
import { fieldErrors } from "../lib/forms";
import { Dialog } from "../ui/Dialog";
import { FormError } from "../ui/feedback";
import { Field } from "../ui/Field";
import {
  useCreateEndpoint,
  useDiscoverModels,
  useUpdateEndpoint,
  type DiscoveredModel,
  type Endpoint,
  type EndpointBody,
} from "./api";
import { moved, PRESETS, presetFor, suggestAlias } from "./presets";

interface Props {
  orgId: string;
  endpoint?: Endpoint;
  /** Every alias of the organization (fallback choices). */
  aliases: string[];
  onClose: () => void;
}

type KeyMode = "keep" | "replace" | "clear";

function num(value: string): number | null {
  return value.trim() === "" ? null : Number(value);
}

export function EndpointDialog({ orgId, endpoint, aliases, onClose }: Props) {
  const editing = endpoint !== undefined;
  const create = useCreateEndpoint(orgId);
  const update = useUpdateEndpoint(orgId);
  const discover = useDiscoverModels(orgId);
  const mutation = editing ? update : create;

  const initialPreset = endpoint ? (presetFor(endpoint.base_url)?.id ?? "custom") : "openai";
  const [presetId, setPresetId] = useState(initialPreset);
  const preset = PRESETS.find((p) => p.id === presetId) ?? PRESETS[PRESETS.length - 1]!;
  const [baseUrl, setBaseUrl] = useState(endpoint?.base_url ?? preset.baseUrl);
  const [apiKey, setApiKey] = useState("");
  const [keyMode, setKeyMode] = useState<KeyMode>(endpoint?.has_api_key ? "keep" : "replace");
  const [model, setModel] = useState(endpoint?.model ?? "");
  const [alias, setAlias] = useState(endpoint?.alias ?? "");
  const [aliasTouched, setAliasTouched] = useState(editing);
  const [name, setName] = useState(endpoint?.name ?? "");
  const [kind, setKind] = useState<"chat" | "embedding">((endpoint?.kind as "chat" | "embedding" | undefined) ?? "chat");
  const [tools, setTools] = useState(endpoint?.supports_tools ?? false);
  const [jsonMode, setJsonMode] = useState(endpoint?.supports_json_mode ?? false);
  const [vision, setVision] = useState(endpoint?.supports_vision ?? false);
  const [contextWindow, setContextWindow] = useState(endpoint?.context_window != null ? String(endpoint.context_window) : "");
  const [priceIn, setPriceIn] = useState(endpoint ? String(Number(endpoint.price_input_per_1k ?? 0)) : "0");
  const [priceOut, setPriceOut] = useState(endpoint ? String(Number(endpoint.price_output_per_1k ?? 0)) : "0");
  const [connect, setConnect] = useState(String(endpoint?.connect_timeout_s ?? 5));
  const [firstToken, setFirstToken] = useState(String(endpoint?.first_token_timeout_s ?? 60));
  const [idle, setIdle] = useState(String(endpoint?.idle_timeout_s ?? 30));
  const [retries, setRetries] = useState(String(endpoint?.max_retries ?? 0));
  const [cacheTtl, setCacheTtl] = useState(String(endpoint?.cache_ttl_s ?? 0));
  const [similarity, setSimilarity] = useState(endpoint?.semantic_cache_threshold != null ? String(endpoint.semantic_cache_threshold) : "");
  const [fallbacks, setFallbacks] = useState<string[]>(
    Array.isArray(endpoint?.fallbacks) ? (endpoint.fallbacks as unknown[]).map(String) : [],
  );
  const [found, setFound] = useState<DiscoveredModel[] | null>(null);

  const urlChanged = editing && baseUrl.replace(/\/+$/, "") !== endpoint.base_url.replace(/\/+$/, "");
  // A stored key must not follow a changed URL: enter it again, or clear it.
  const keyDecisionMissing = editing && endpoint.has_api_key && urlChanged && keyMode !== "clear" && !apiKey.trim();
  const candidates = useMemo(
    () => aliases.filter((a) => a !== (alias || endpoint?.alias) && !fallbacks.includes(a)),
    [aliases, alias, endpoint?.alias, fallbacks],
  );

  function choosePreset(id: string) {
    setPresetId(id);
    const next = PRESETS.find((p) => p.id === id);
    if (next && next.baseUrl) setBaseUrl(next.baseUrl);
    if (next?.tools) setTools(true);
    setFound(null);
  }

  function chooseModel(value: string) {
    setModel(value);
    if (!aliasTouched) setAlias(suggestAlias(value));
    const card = found?.find((m) => m.id === value);
    if (card?.context_window) setContextWindow(String(card.context_window));
  }

  async function fetchModels() {
    try {
      const result = await discover.mutateAsync({
        base_url: baseUrl.trim(),
        ...(apiKey.trim() ? { api_key: apiKey.trim() } : {}),
        ...(editing && keyMode !== "clear" ? { endpoint: endpoint.id } : {}),
      });
      setFound(result.models);
      const only = result.models.length === 1 ? result.models[0] : undefined;
      if (only && !model) chooseModel(only.id);
      const current = result.models.find((m) => m.id === model);
      if (current?.context_window && !contextWindow) setContextWindow(String(current.context_window));
    } catch {
      setFound(null); // discover.error is shown under the field
    }
  }

  async function submit(event: FormEvent) {
    event.preventDefault();
    if (keyDecisionMissing) return;
    const body: EndpointBody = {
      alias: alias.trim(),
      name: name.trim(),
      kind,
      base_url: baseUrl.trim(),
      model: model.trim(),
      supports_tools: tools,
      supports_json_mode: jsonMode,
      supports_vision: vision,
      context_window: num(contextWindow),
      price_input_per_1k: priceIn.trim() || "0",
      price_output_per_1k: priceOut.trim() || "0",
      connect_timeout_s: Number(connect),
      first_token_timeout_s: Number(firstToken),
      idle_timeout_s: Number(idle),
      max_retries: Number(retries),
      cache_ttl_s: Number(cacheTtl) || 0,
      semantic_cache_threshold: similarity.trim() ? Number(similarity) : null,
      fallbacks,
    };
    if (keyMode === "replace" && apiKey.trim()) body.api_key = apiKey.trim();
    if (keyMode === "clear") body.api_key = "";
    try {
      if (editing) await update.mutateAsync({ id: endpoint.id, changes: body });
      else await create.mutateAsync(body);
      onClose();
    } catch {
      // mutation.error is shown in the form
    }
  }

  const error = mutation.error;
  return (
    <Dialog
      title={editing ? `Edit ${endpoint.alias}` : "Add model"}
      description="Any server that speaks the OpenAI protocol: a provider, or your own vLLM, TGI, Ollama or LM Studio."
      onClose={onClose}
      dismissable={!mutation.isPending}
      size="md"
    >
      <form className="form endpoint-form" onSubmit={submit} noValidate>
        <FormError error={error} />
        <div className="form-row">
          <Field label="Provider" hint={preset.urlHint}>
            <select className="select" value={presetId} onChange={(e) => choosePreset(e.target.value)} disabled={endpoint?.is_builtin}>
              {PRESETS.map((p) => (
                <option key={p.id} value={p.id}>
                  {p.label}
                </option>
              ))}
            </select>
          </Field>
          <Field label="Base URL" errors={fieldErrors(error, "base_url")}>
            <input
              className="input"
              value={baseUrl}
              onChange={(e) => setBaseUrl(e.target.value)}
              placeholder="https://…/v1"
              autoComplete="off"
              spellCheck={false}
              disabled={endpoint?.is_builtin}
              required
            />
          </Field>
        </div>

        <Field
          label="API key"
          errors={fieldErrors(error, "api_key")}
          hint={
            editing && endpoint.has_api_key
              ? "A key is stored (encrypted). It is never shown again."
              : preset.needsKey
                ? "Stored encrypted; it is sent only to this server and never shown again."
                : "Optional for servers on your own network."
          }
        >
          <input
            className="input"
            type="password"
            value={apiKey}
            onChange={(e) => {
              setApiKey(e.target.value);
              if (e.target.value) setKeyMode("replace");
            }}
            placeholder={editing && endpoint.has_api_key ? "Leave empty to keep the stored key" : "sk-…"}
            autoComplete="new-password"
            disabled={keyMode === "clear"}
          />
        </Field>
        {editing && endpoint.has_api_key ? (
          <label className="check">
            <input type="checkbox" checked={keyMode === "clear"} onChange={(e) => setKeyMode(e.target.checked ? "clear" : apiKey ? "replace" : "keep")} />
            Clear the stored key
          </label>
        ) : null}
        {keyDecisionMissing ? (
          <p className="callout callout--warning" role="alert">
            The base URL changed: enter the API key for the new server, or clear the stored key. A key is never sent to
            a server it was not entered for.
          </p>
        ) : null}

        <div className="model-pick">
          <Field
            label="Model"
            errors={[...fieldErrors(error, "model"), ...(discover.error ? [discover.error.message] : [])]}
            hint={found ? `${found.length} model${found.length === 1 ? "" : "s"} on this server.` : `The model's name on the server, e.g. ${preset.example}.`}
          >
            <input
              className="input"
              value={model}
              onChange={(e) => chooseModel(e.target.value)}
              list="discovered-models"
              autoComplete="off"
              spellCheck={false}
              required
            />
          </Field>
          <button type="button" className="btn btn--secondary" onClick={() => void fetchModels()} disabled={!baseUrl.trim() || discover.isPending}>
            {discover.isPending ? "Fetching…" : "Fetch models"}
          </button>
        </div>
        <datalist id="discovered-models">
          {found?.map((m) => (
            <option key={m.id} value={m.id}>
              {m.context_window ? `${m.context_window} tokens` : undefined}
            </option>
          ))}
        </datalist>

        <div className="form-row">
          <Field label="Alias" errors={fieldErrors(error, "alias")} hint="How flows name this model.">
            <input
              className="input"
              value={alias}
              onChange={(e) => {
                setAlias(e.target.value);
                setAliasTouched(true);
              }}
              pattern="[a-zA-Z0-9_-]+"
              maxLength={64}
              required
            />
          </Field>
          <Field label="Display name" errors={fieldErrors(error, "name")}>
            <input className="input" value={name} onChange={(e) => setName(e.target.value)} maxLength={120} placeholder={alias} />
          </Field>
        </div>

        <fieldset className="endpoint-form__group">
          <legend>Capabilities</legend>
          <div className="endpoint-form__checks">
            <label className="check">
              <input type="radio" name="kind" checked={kind === "chat"} onChange={() => setKind("chat")} /> Chat
            </label>
            <label className="check">
              <input type="radio" name="kind" checked={kind === "embedding"} onChange={() => setKind("embedding")} /> Embeddings
            </label>
            <label className="check">
              <input type="checkbox" checked={tools} onChange={(e) => setTools(e.target.checked)} /> Tools
            </label>
            <label className="check">
              <input type="checkbox" checked={jsonMode} onChange={(e) => setJsonMode(e.target.checked)} /> JSON mode
            </label>
            <label className="check">
              <input type="checkbox" checked={vision} onChange={(e) => setVision(e.target.checked)} /> Vision
            </label>
          </div>
        </fieldset>

        <div className="form-row form-row--3">
          <Field
            label="Context window (tokens)"
            errors={fieldErrors(error, "context_window")}
            hint="Prompts are fitted to it; blank: unknown."
          >
            <input className="input" type="number" min={256} value={contextWindow} onChange={(e) => setContextWindow(e.target.value)} />
          </Field>
          <Field label="Price / 1k input" errors={fieldErrors(error, "price_input_per_1k")}>
            <input className="input" type="number" min={0} step="any" value={priceIn} onChange={(e) => setPriceIn(e.target.value)} />
          </Field>
          <Field label="Price / 1k output" errors={fieldErrors(error, "price_output_per_1k")}>
            <input className="input" type="number" min={0} step="any" value={priceOut} onChange={(e) => setPriceOut(e.target.value)} />
          </Field>
        </div>

        <fieldset className="endpoint-form__group">
          <legend>Fallbacks, in order</legend>
          {fallbacks.length === 0 ? <p className="muted">None: a failure before the first token ends the call.</p> : null}
          <ol className="fallbacks">
            {fallbacks.map((item, index) => (
              <li key={item} className="fallbacks__item">
                <span className="fallbacks__name">{item}</span>
                <button type="button" className="btn btn--ghost btn--sm" aria-label={`Move ${item} up`} disabled={index === 0} onClick={() => setFallbacks(moved(fallbacks, index, -1))}>
                  ↑
                </button>
                <button
                  type="button"
                  className="btn btn--ghost btn--sm"
                  aria-label={`Move ${item} down`}
                  disabled={index === fallbacks.length - 1}
                  onClick={() => setFallbacks(moved(fallbacks, index, 1))}
                >
                  ↓
                </button>
                <button type="button" className="btn btn--danger-ghost btn--sm" aria-label={`Remove fallback ${item}`} onClick={() => setFallbacks(fallbacks.filter((f) => f !== item))}>
                  Remove
                </button>
              </li>
            ))}
          </ol>
          {candidates.length > 0 && fallbacks.length < 8 ? (
            <select
              className="select select--sm"
              aria-label="Add a fallback"
              value=""
              onChange={(e) => e.target.value && setFallbacks([...fallbacks, e.target.value])}
            >
              <option value="">Add a fallback…</option>
              {candidates.map((a) => (
                <option key={a} value={a}>
                  {a}
                </option>
              ))}
            </select>
          ) : null}
          <ul className="field__errors">
            {fieldErrors(error, "fallbacks").map((m) => (
              <li key={m}>{m}</li>
            ))}
          </ul>
        </fieldset>

        <details className="endpoint-form__advanced">
          <summary>Timeouts, retries and cache</summary>
          <div className="form-row form-row--4">
            <Field label="Connect (s)" errors={fieldErrors(error, "connect_timeout_s")}>
              <input className="input" type="number" min={0.1} step="any" value={connect} onChange={(e) => setConnect(e.target.value)} />
            </Field>
            <Field label="First token (s)" errors={fieldErrors(error, "first_token_timeout_s")}>
              <input className="input" type="number" min={0.1} step="any" value={firstToken} onChange={(e) => setFirstToken(e.target.value)} />
            </Field>
            <Field label="Between tokens (s)" errors={fieldErrors(error, "idle_timeout_s")}>
              <input className="input" type="number" min={0.1} step="any" value={idle} onChange={(e) => setIdle(e.target.value)} />
            </Field>
            <Field label="Retries" errors={fieldErrors(error, "max_retries")} hint="Before the first token.">
              <input className="input" type="number" min={0} max={5} value={retries} onChange={(e) => setRetries(e.target.value)} />
            </Field>
            <Field
              label="Cache answers (s)"
              errors={fieldErrors(error, "cache_ttl_s")}
              hint="Exact repeats at temperature 0 are answered from memory, per organization. 0: off."
            >
              <input className="input" type="number" min={0} value={cacheTtl} onChange={(e) => setCacheTtl(e.target.value)} />
            </Field>
            <Field
              label="Similar questions (0.5–1)"
              errors={fieldErrors(error, "semantic_cache_threshold")}
              hint="Also answer a question this close in meaning to one a published flow answered before (0.7 answered half of our test paraphrases, none wrongly). Needs a cache time. Blank: off."
            >
              <input
                className="input"
                type="number"
                min={0.5}
                max={1}
                step={0.01}
                placeholder="off"
                value={similarity}
                onChange={(e) => setSimilarity(e.target.value)}
              />
            </Field>
          </div>
        </details>

        <div className="form-actions">
          <button type="button" className="btn btn--ghost" onClick={onClose} disabled={mutation.isPending}>
            Cancel
          </button>
          <button type="submit" className="btn btn--primary" disabled={mutation.isPending || keyDecisionMissing || !model.trim() || !alias.trim()}>
            {mutation.isPending ? "Saving…" : editing ? "Save" : "Add model"}
          </button>
        </div>
      </form>
    </Dialog>
  );
}
