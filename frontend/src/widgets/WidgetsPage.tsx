/** Widgets: publish a flow as a chat bubble for other websites, with a live preview, the embed
 *  snippet and per-widget analytics. The server enforces roles; viewers see, editors change. */
import { useEffect, useState, type FormEvent } from "react";
import { fieldErrors } from "../lib/forms";
import { roleAtLeast } from "../lib/roles";
import { useCurrentOrg } from "../shell/session";
import { CopyButton } from "../ui/CopyButton";
import { Field } from "../ui/Field";
import { EmptyState, ErrorState, FormError, LoadingState } from "../ui/feedback";
import { PlusIcon, WidgetsIcon } from "../ui/icons";
import { PageHeader } from "../ui/PageHeader";
import {
  embedSnippet,
  useCreateWidget,
  useDeleteWidget,
  usePublishedFlows,
  useRotateKey,
  useUpdateWidget,
  useWidgets,
  type Widget,
} from "./api";
import { WidgetAnalytics } from "./WidgetAnalytics";

const lines = (text: string) =>
  text
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);

export function WidgetsPage() {
  const org = useCurrentOrg();
  const canEdit = roleAtLeast(org.role, "editor");
  const widgets = useWidgets(org.id);
  const [selected, setSelected] = useState<string | null>(null);
  const [creating, setCreating] = useState(false);

  useEffect(() => {
    if (!selected && widgets.data?.[0]) setSelected(widgets.data[0].id);
  }, [selected, widgets.data]);

  const newButton = canEdit ? (
    <button type="button" className="btn btn--primary" onClick={() => setCreating(true)}>
      <PlusIcon size={15} />
      New widget
    </button>
  ) : null;
  const current = widgets.data?.find((w) => w.id === selected) ?? null;

  return (
    <div className="page">
      <PageHeader
        title="Widgets"
        description="Put a published flow on any website as a chat bubble, with one script tag."
        actions={widgets.data?.length ? newButton : null}
      />
      {creating ? (
        <CreateWidget
          orgId={org.id}
          onDone={(id) => {
            setCreating(false);
            if (id) setSelected(id);
          }}
        />
      ) : null}
      {widgets.isPending ? (
        <LoadingState label="Loading widgets…" />
      ) : widgets.isError ? (
        <ErrorState error={widgets.error} onRetry={() => void widgets.refetch()} />
      ) : widgets.data.length === 0 && !creating ? (
        <EmptyState icon={<WidgetsIcon size={24} />} title="No widgets yet" action={newButton}>
          A widget embeds a published flow as a chat window on your site. It runs only published versions, answers
          only the origins you allow, and never exposes your keys.
        </EmptyState>
      ) : (
        <div className="widgets-layout" style={{ display: "grid", gridTemplateColumns: "220px 1fr", gap: 24 }}>
          <nav aria-label="Widgets">
            <ul className="list-plain" style={{ listStyle: "none", padding: 0, margin: 0 }}>
              {widgets.data.map((widget) => (
                <li key={widget.id}>
                  <button
                    type="button"
                    className={`btn btn--ghost${widget.id === selected ? " is-active" : ""}`}
                    aria-current={widget.id === selected ? "true" : undefined}
                    onClick={() => setSelected(widget.id)}
                    style={{ width: "100%", justifyContent: "flex-start" }}
                  >
                    {widget.name}
                    {widget.enabled ? null : <span className="muted"> (off)</span>}
                  </button>
                </li>
              ))}
            </ul>
          </nav>
          {current ? <WidgetDetail key={current.id} widget={current} canEdit={canEdit} /> : null}
        </div>
      )}
    </div>
  );
}

function CreateWidget({ orgId, onDone }: { orgId: string; onDone: (id?: string) => void }) {
  const flows = usePublishedFlows(orgId);
  const create = useCreateWidget(orgId);
  const [flow, setFlow] = useState("");
  const [origins, setOrigins] = useState("");
  const published = (flows.data ?? []).filter((f) => f.published_version !== null);

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      const widget = await create.mutateAsync({ flow, allowed_origins: lines(origins) });
      onDone(widget.id);
    } catch {
      // create.error is shown below
    }
  }

  return (
    <form className="card" onSubmit={submit} aria-label="New widget" style={{ marginBottom: 24 }}>
      <div className="card__body form">
        <FormError error={create.error} />
        <Field label="Published flow" errors={fieldErrors(create.error, "flow")}>
          <select className="select" value={flow} onChange={(e) => setFlow(e.target.value)} required>
            <option value="">Choose a flow…</option>
            {published.map((f) => (
              <option key={f.id} value={f.id}>
                {f.name} (v{f.published_version})
              </option>
            ))}
          </select>
        </Field>
        <Field
          label="Allowed websites"
          hint="One origin per line, e.g. https://www.example.com (https://*.example.com for subdomains)."
          errors={fieldErrors(create.error, "allowed_origins")}
        >
          <textarea className="input" rows={3} value={origins} onChange={(e) => setOrigins(e.target.value)} />
        </Field>
      </div>
      <div className="card__footer">
        <button type="button" className="btn btn--secondary" onClick={() => onDone()}>
          Cancel
        </button>
        <button type="submit" className="btn btn--primary" disabled={!flow || create.isPending}>
          Create widget
        </button>
      </div>
    </form>
  );
}

function WidgetDetail({ widget, canEdit }: { widget: Widget; canEdit: boolean }) {
  const org = useCurrentOrg();
  const origin = window.location.origin;
  const snippet = embedSnippet(origin, widget.public_key);
  const hosted = `${origin}/w/${widget.public_key}/`;
  const rotate = useRotateKey(org.id, widget.id);
  const remove = useDeleteWidget(org.id);

  return (
    <section aria-label={widget.name} style={{ display: "grid", gap: 24, minWidth: 0 }}>
      <div className="card">
        <div className="card__body">
          <h2 className="section__title">Embed</h2>
          <p className="muted">
            Paste before <code>&lt;/body&gt;</code> on an allowed website. Serving version{" "}
            {widget.published_version ?? "— (publish the flow first)"}
            {widget.pinned_version ? " (pinned)" : " (follows the published version)"}.
          </p>
          <pre className="mono" aria-label="Embed snippet" style={{ whiteSpace: "pre-wrap", wordBreak: "break-all" }}>
            {snippet}
          </pre>
          <div style={{ display: "flex", gap: 8, flexWrap: "wrap" }}>
            <CopyButton value={snippet} label="Copy snippet" />
            <CopyButton value={hosted} label="Copy chat page link" />
            <a className="btn btn--secondary btn--sm" href={hosted} target="_blank" rel="noreferrer">
              Open chat page
            </a>
            {canEdit ? (
              <>
                <button
                  type="button"
                  className="btn btn--secondary btn--sm"
                  onClick={() => {
                    if (window.confirm("Replace the public key? Pages with the old snippet stop working.")) rotate.mutate();
                  }}
                >
                  Rotate key
                </button>
                <button
                  type="button"
                  className="btn btn--danger-ghost btn--sm"
                  onClick={() => {
                    if (window.confirm(`Delete ${widget.name}?`)) remove.mutate(widget.id);
                  }}
                >
                  Delete
                </button>
              </>
            ) : null}
          </div>
          <FormError error={rotate.error ?? remove.error} />
        </div>
      </div>
      <div style={{ display: "grid", gridTemplateColumns: "minmax(0,1fr) 400px", gap: 24, alignItems: "start" }}>
        <WidgetSettingsForm widget={widget} canEdit={canEdit} />
        <div className="card">
          <div className="card__body">
            <h2 className="section__title">Live preview</h2>
            {widget.hosted_page && widget.enabled ? (
              <iframe
                key={`${widget.public_key}-${widget.updated_at}`}
                title="Widget preview"
                src={hosted}
                style={{ width: "100%", height: 560, border: "1px solid var(--border, #e5e7eb)", borderRadius: 12 }}
              />
            ) : (
              <p className="muted">Turn on the widget and its chat page to preview it here.</p>
            )}
          </div>
        </div>
      </div>
      <WidgetAnalytics orgId={org.id} widgetId={widget.id} />
    </section>
  );
}

function WidgetSettingsForm({ widget, canEdit }: { widget: Widget; canEdit: boolean }) {
  const org = useCurrentOrg();
  const update = useUpdateWidget(org.id, widget.id);
  const flows = usePublishedFlows(org.id);
  const [form, setForm] = useState(() => ({
    name: widget.name,
    flow: widget.flow,
    enabled: widget.enabled,
    origins: widget.allowed_origins.join("\n"),
    title: widget.appearance.title,
    greeting: widget.appearance.greeting,
    suggestions: widget.appearance.suggestions.join("\n"),
    color: widget.appearance.primary_color,
    avatar: widget.appearance.avatar_url,
    position: widget.appearance.position,
    theme: widget.appearance.theme,
    memory: widget.conversation_memory,
    sources: widget.show_sources,
    feedback: widget.collect_feedback,
    maxInput: widget.max_input_chars ?? 2000,
    perVisitor: widget.visitor_messages_per_minute ?? 10,
    perIp: widget.ip_messages_per_minute ?? 30,
    tokens: widget.tokens_per_day ?? 200000,
    hosted: widget.hosted_page,
  }));
  const set = <K extends keyof typeof form>(key: K, value: (typeof form)[K]) => setForm((f) => ({ ...f, [key]: value }));
  const errors = (name: string) => fieldErrors(update.error, name);

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await update.mutateAsync({
        name: form.name,
        flow: form.flow,
        enabled: form.enabled,
        allowed_origins: lines(form.origins),
        hosted_page: form.hosted,
        appearance: {
          title: form.title,
          greeting: form.greeting,
          suggestions: lines(form.suggestions),
          primary_color: form.color,
          avatar_url: form.avatar,
          position: form.position as "left" | "right",
          theme: form.theme as "light" | "dark",
        },
        conversation_memory: form.memory,
        show_sources: form.sources,
        collect_feedback: form.feedback,
        max_input_chars: Number(form.maxInput),
        visitor_messages_per_minute: Number(form.perVisitor),
        ip_messages_per_minute: Number(form.perIp),
        tokens_per_day: Number(form.tokens),
      });
    } catch {
      // update.error is shown in the form
    }
  }

  const check = (key: "enabled" | "memory" | "sources" | "feedback" | "hosted", label: string) => (
    <label className="checkbox" style={{ display: "flex", gap: 8, alignItems: "center" }}>
      <input type="checkbox" checked={form[key]} onChange={(e) => set(key, e.target.checked)} disabled={!canEdit} />
      {label}
    </label>
  );

  return (
    <form className="card" onSubmit={submit} aria-label="Widget settings">
      <fieldset className="card__body form" disabled={!canEdit} style={{ border: 0, margin: 0 }}>
        <h2 className="section__title">Settings</h2>
        <FormError error={update.error} />
        <Field label="Name" errors={errors("name")}>
          <input className="input" value={form.name} onChange={(e) => set("name", e.target.value)} />
        </Field>
        <Field label="Flow" errors={errors("flow")}>
          <select className="select" value={form.flow} onChange={(e) => set("flow", e.target.value)}>
            {(flows.data ?? []).map((f) => (
              <option key={f.id} value={f.id}>
                {f.name}
                {f.published_version ? ` (v${f.published_version})` : " (not published)"}
              </option>
            ))}
          </select>
        </Field>
        <Field label="Allowed websites" hint="One origin per line." errors={errors("allowed_origins")}>
          <textarea className="input" rows={3} value={form.origins} onChange={(e) => set("origins", e.target.value)} />
        </Field>
        {check("enabled", "Widget on")}
        {check("hosted", "Shareable full-page chat")}
        <h3 className="section__title">Appearance</h3>
        <Field label="Title" errors={errors("appearance")}>
          <input className="input" value={form.title} onChange={(e) => set("title", e.target.value)} />
        </Field>
        <Field label="Greeting">
          <textarea className="input" rows={2} value={form.greeting} onChange={(e) => set("greeting", e.target.value)} />
        </Field>
        <Field label="Suggested questions" hint="One per line, up to 6.">
          <textarea
            className="input"
            rows={3}
            value={form.suggestions}
            onChange={(e) => set("suggestions", e.target.value)}
          />
        </Field>
        <div style={{ display: "flex", gap: 16, flexWrap: "wrap" }}>
          <Field label="Colour">
            <input type="color" value={form.color} onChange={(e) => set("color", e.target.value)} />
          </Field>
          <Field label="Position">
            <select className="select" value={form.position} onChange={(e) => set("position", e.target.value)}>
              <option value="right">Bottom right</option>
              <option value="left">Bottom left</option>
            </select>
          </Field>
          <Field label="Theme">
            <select className="select" value={form.theme} onChange={(e) => set("theme", e.target.value)}>
              <option value="light">Light</option>
              <option value="dark">Dark</option>
            </select>
          </Field>
        </div>
        <Field label="Avatar image (https)">
          <input className="input" value={form.avatar} onChange={(e) => set("avatar", e.target.value)} />
        </Field>
        <h3 className="section__title">Behaviour</h3>
        {check("memory", "Conversation memory")}
        {check("sources", "Show sources")}
        {check("feedback", "Collect feedback (thumbs up/down)")}
        <Field label="Longest message (characters)" errors={errors("max_input_chars")}>
          <input className="input" type="number" min={1} value={form.maxInput} onChange={(e) => set("maxInput", Number(e.target.value))} />
        </Field>
        <h3 className="section__title">Limits</h3>
        <div style={{ display: "flex", gap: 16, flexWrap: "wrap" }}>
          <Field label="Messages / minute / visitor" errors={errors("visitor_messages_per_minute")}>
            <input className="input" type="number" min={1} value={form.perVisitor} onChange={(e) => set("perVisitor", Number(e.target.value))} />
          </Field>
          <Field label="Messages / minute / IP" errors={errors("ip_messages_per_minute")}>
            <input className="input" type="number" min={1} value={form.perIp} onChange={(e) => set("perIp", Number(e.target.value))} />
          </Field>
          <Field label="Tokens / day" errors={errors("tokens_per_day")}>
            <input className="input" type="number" min={1} value={form.tokens} onChange={(e) => set("tokens", Number(e.target.value))} />
          </Field>
        </div>
      </fieldset>
      {canEdit ? (
        <div className="card__footer">
          <span className="muted" aria-live="polite">
            {update.isSuccess ? "Saved." : ""}
          </span>
          <button type="submit" className="btn btn--primary" disabled={update.isPending}>
            Save
          </button>
        </div>
      ) : null}
    </form>
  );
}
