/** The flow's response-cache default for its LLM nodes (a node may choose its own in its settings). */
import { useId } from "react";
import { Field } from "../ui/Field";
import { useEditor } from "./context";
import type { FlowCache } from "./types";

const MODES: { value: "" | FlowCache["mode"]; label: string }[] = [
  { value: "", label: "Model's setting" },
  { value: "off", label: "Off" },
  { value: "exact", label: "Exact repeats" },
  { value: "semantic", label: "Similar questions" },
];

const HINT: Record<string, string> = {
  "": "Each model's own cache setting (Models page) applies.",
  off: "No answer of this flow comes from the cache.",
  exact: "The same prompt to the same model with the same parameters gets the earlier answer.",
  semantic:
    "Also a single question close enough to one answered before in this published version gets its answer. Publishing a new version starts afresh.",
};

export function FlowCacheSettings() {
  const id = useId();
  const cache = useEditor((s) => s.settings?.cache ?? null);
  const setSettings = useEditor((s) => s.setSettings);
  const readOnly = useEditor((s) => s.readOnly);
  const mode = cache?.mode ?? "";
  const update = (changes: Partial<FlowCache>) => {
    const next = { mode: "off" as FlowCache["mode"], ...cache, ...changes };
    setSettings({ cache: next });
  };
  const number = (raw: string) => (raw === "" ? null : Number(raw));
  const ttl = cache?.ttl_s ?? null;
  const threshold = cache?.threshold ?? null;
  const ttlError = ttl !== null && (!Number.isInteger(ttl) || ttl < 1 || ttl > 2_592_000) ? "Between 1 second and 30 days." : null;
  const thresholdError = threshold !== null && (threshold < 0.5 || threshold > 1) ? "Between 0.5 and 1." : null;

  return (
    <section aria-label="Response cache" data-testid="flow-cache">
      <h3 className="panel-subtitle">Response cache</h3>
      <div className="field">
        <label className="field__label" htmlFor={`${id}-mode`}>
          Default for LLM nodes
        </label>
        <select
          id={`${id}-mode`}
          className="select"
          value={mode}
          disabled={readOnly}
          onChange={(e) => (e.target.value ? update({ mode: e.target.value as FlowCache["mode"] }) : setSettings(null))}
        >
          {MODES.map((m) => (
            <option key={m.value} value={m.value}>
              {m.label}
            </option>
          ))}
        </select>
        <p className="field__hint">{HINT[mode]} Answers are never shared between organizations; calls at a temperature above 0 skip the cache unless allowed below.</p>
      </div>
      {mode === "exact" || mode === "semantic" ? (
        <>
          <Field label="Keep answers for (seconds)" errors={ttlError ? [ttlError] : []}>
            <input
              className="input"
              type="number"
              min={1}
              max={2_592_000}
              step={1}
              placeholder="The model's, else 3600"
              value={ttl ?? ""}
              disabled={readOnly}
              onChange={(e) => update({ ttl_s: number(e.target.value) })}
            />
          </Field>
          {mode === "semantic" ? (
            <Field label="Similarity needed (0.5–1)" errors={thresholdError ? [thresholdError] : []}>
              <input
                className="input"
                type="number"
                min={0.5}
                max={1}
                step={0.01}
                placeholder="The model's, else 0.9"
                value={threshold ?? ""}
                disabled={readOnly}
                onChange={(e) => update({ threshold: number(e.target.value) })}
              />
            </Field>
          ) : null}
          <div className="field sform__check">
            <label htmlFor={`${id}-temp`}>
              <input
                id={`${id}-temp`}
                type="checkbox"
                checked={Boolean(cache?.any_temperature)}
                disabled={readOnly}
                onChange={(e) => update({ any_temperature: e.target.checked })}
              />{" "}
              Also cache answers at a temperature above 0
            </label>
          </div>
        </>
      ) : null}
    </section>
  );
}
