import { useEffect, useRef, useState } from "react";
import { useQuery } from "@tanstack/react-query";
import { fetchFlow, useFlows } from "../editor/api";
import { errorMessage } from "../lib/errors";
import { ReconnectingSocket, socketUrl } from "../lib/socket";
import { canManage, roleAtLeast } from "../lib/roles";
import { useCurrentOrg } from "../shell/session";
import { Badge } from "../ui/Badge";
import { EmptyState, ErrorState, FormError, LoadingState } from "../ui/feedback";
import { PageHeader } from "../ui/PageHeader";
import { formatCost } from "../runs/format";
import {
  type Evaluation,
  type EvaluationInput,
  type ItemRow,
  useDatasetItems,
  useDatasetMutations,
  useDatasets,
  useEvaluation,
  useEvaluationMutations,
  useEvaluations,
  useGate,
  useGateMutations,
  useItemRows,
  useReviewQueue,
} from "./api";
import { type EditorRow, histogram, interval, sampleScores, score, type Summary, toItem, verdict } from "./stats";
import "./evaluation.css";

const TABS = ["datasets", "evaluations", "review", "gates"] as const;
type Tab = (typeof TABS)[number];
const PRESETS: Record<string, Record<string, unknown>> = {
  exact: { name: "exact", kind: "exact" },
  contains: { name: "contains", kind: "contains" },
  rouge_l: { name: "rouge_l", kind: "rouge_l" },
  bleu: { name: "bleu", kind: "bleu" },
  embedding: { name: "similarity", kind: "embedding" },
  human: { name: "human", kind: "human" },
};

/** Golden datasets, evaluation runs with their statistics, the human review queue and publish gates. */
export function EvaluationPage() {
  const org = useCurrentOrg();
  const [tab, setTab] = useState<Tab>("datasets");
  return (
    <div className="page">
      <PageHeader
        title="Evaluation"
        description="Golden datasets, evaluations with several samples per item and confidence intervals, and gates that publishing must pass."
      />
      <div className="eval-tabs" role="tablist">
        {TABS.map((name) => (
          <button key={name} role="tab" aria-selected={tab === name} className={`btn btn--sm ${tab === name ? "" : "btn--ghost"}`} onClick={() => setTab(name)}>
            {name[0]?.toUpperCase() + name.slice(1)}
          </button>
        ))}
      </div>
      {tab === "datasets" && <Datasets orgId={org.id} editor={roleAtLeast(org.role, "editor")} />}
      {tab === "evaluations" && <Evaluations orgId={org.id} />}
      {tab === "review" && <Review orgId={org.id} />}
      {tab === "gates" && <Gates orgId={org.id} admin={canManage(org.role)} />}
    </div>
  );
}

function Datasets({ orgId, editor }: { orgId: string; editor: boolean }) {
  const datasets = useDatasets(orgId);
  const mutations = useDatasetMutations(orgId);
  const [selected, setSelected] = useState<string | null>(null);
  const [name, setName] = useState("");
  if (datasets.isError) return <ErrorState error={datasets.error} onRetry={() => void datasets.refetch()} />;
  if (!datasets.data) return <LoadingState label="Loading datasets…" />;
  return (
    <section className="card">
      <div className="card__body">
        <form
          className="eval-row"
          onSubmit={(e) => {
            e.preventDefault();
            if (name.trim()) mutations.create.mutate(name.trim(), { onSuccess: (d) => (setSelected(d.id), setName("")) });
          }}
        >
          <input className="input" aria-label="New dataset name" placeholder="New dataset name" value={name} onChange={(e) => setName(e.target.value)} disabled={!editor} />
          <button className="btn btn--sm" type="submit" disabled={!editor || !name.trim()}>
            Create dataset
          </button>
        </form>
        <FormError error={mutations.create.error} />
        {datasets.data.length === 0 ? (
          <EmptyState title="No datasets yet">Create one, then add items by hand, upload a CSV/JSONL file, or take them from production.</EmptyState>
        ) : (
          <ul className="eval-list">
            {datasets.data.map((d) => (
              <li key={d.id}>
                <button className={`btn btn--ghost btn--sm ${selected === d.id ? "is-active" : ""}`} onClick={() => setSelected(d.id)}>
                  {d.name} <span className="muted">v{d.latest_version}</span>
                </button>
              </li>
            ))}
          </ul>
        )}
        {selected && <DatasetEditor key={selected} orgId={orgId} datasetId={selected} editor={editor} />}
      </div>
    </section>
  );
}

function DatasetEditor({ orgId, datasetId, editor }: { orgId: string; datasetId: string; editor: boolean }) {
  const items = useDatasetItems(orgId, datasetId);
  const mutations = useDatasetMutations(orgId);
  const [rows, setRows] = useState<EditorRow[] | null>(null);
  const file = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (!items.data) return;
    setRows(
      items.data.items.map((item) => ({
        key: item.key,
        message: item.message,
        expected_output: item.expected_output ?? "",
        tags: ((item.tags as string[] | null) ?? []).join(", "),
        expected_sources: ((item.expected_sources as string[] | null) ?? []).join(", "),
      })),
    );
  }, [items.data]);
  if (items.isError) return <ErrorState error={items.error} />;
  if (!rows || !items.data) return <LoadingState label="Loading items…" />;
  const set = (index: number, patch: Partial<EditorRow>) => setRows(rows.map((row, i) => (i === index ? { ...row, ...patch } : row)));
  const uploadError = mutations.upload.error as { body?: { errors?: { row: number; message: string }[] } } | null;
  return (
    <div className="eval-editor">
      <div className="eval-row">
        <strong>Version {items.data.version}</strong>
        {/* A real button (a label around a hidden input is not reachable by keyboard). */}
        <button type="button" className="btn btn--ghost btn--sm" disabled={!editor} onClick={() => file.current?.click()}>
          Upload CSV/JSONL
        </button>
        <input
          ref={file}
          type="file"
          accept=".csv,.jsonl,.json"
          hidden
          aria-label="Upload CSV or JSONL"
          disabled={!editor}
          onChange={(e) => {
            const chosen = e.target.files?.[0];
            if (chosen) mutations.upload.mutate({ id: datasetId, file: chosen });
            e.target.value = "";
          }}
        />
        <button className="btn btn--ghost btn--sm" disabled={!editor} onClick={() => mutations.fromProduction.mutate({ id: datasetId, thumbs_down: true })}>
          Add thumbs-down conversations
        </button>
      </div>
      {mutations.upload.isPending && <LoadingState label="Reading the file…" />}
      <FormError error={mutations.upload.error ?? mutations.fromProduction.error ?? mutations.save.error} />
      {uploadError?.body?.errors && (
        <ul className="eval-errors">
          {uploadError.body.errors.map((error) => (
            <li key={error.row}>
              Row {error.row}: {error.message}
            </li>
          ))}
        </ul>
      )}
      <div className="table-wrap">
        <table className="table eval-table">
          <thead>
            <tr>
              <th>Message</th>
              <th>Expected output</th>
              <th>Tags</th>
              <th>Expected sources</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {rows.map((row, i) => (
              <tr key={row.key ?? `new-${i}`}>
                <td>
                  <textarea className="input" aria-label={`Message ${i + 1}`} value={row.message} onChange={(e) => set(i, { message: e.target.value })} />
                </td>
                <td>
                  <textarea className="input" aria-label={`Expected output ${i + 1}`} value={row.expected_output} onChange={(e) => set(i, { expected_output: e.target.value })} />
                </td>
                <td>
                  <input className="input" aria-label={`Tags ${i + 1}`} value={row.tags} onChange={(e) => set(i, { tags: e.target.value })} />
                </td>
                <td>
                  <input className="input" aria-label={`Sources ${i + 1}`} value={row.expected_sources} onChange={(e) => set(i, { expected_sources: e.target.value })} />
                </td>
                <td>
                  <button className="btn btn--ghost btn--sm" aria-label={`Remove row ${i + 1}`} onClick={() => setRows(rows.filter((_, j) => j !== i))}>
                    ✕
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      {rows.length === 0 && <p className="muted">No items in this version.</p>}
      <div className="eval-row">
        <button className="btn btn--ghost btn--sm" onClick={() => setRows([...rows, { message: "", expected_output: "", tags: "", expected_sources: "" }])} disabled={!editor}>
          Add row
        </button>
        <button className="btn btn--sm" disabled={!editor || mutations.save.isPending} onClick={() => mutations.save.mutate({ id: datasetId, items: rows.map(toItem) })}>
          Save as new version
        </button>
      </div>
    </div>
  );
}

function Evaluations({ orgId }: { orgId: string }) {
  const evaluations = useEvaluations(orgId);
  const [selected, setSelected] = useState<string | null>(null);
  if (evaluations.isError) return <ErrorState error={evaluations.error} onRetry={() => void evaluations.refetch()} />;
  if (!evaluations.data) return <LoadingState label="Loading evaluations…" />;
  return (
    <>
      <StartForm orgId={orgId} evaluations={evaluations.data} />
      <section className="card">
        <div className="card__body">
          {evaluations.data.length === 0 ? (
            <EmptyState title="No evaluations yet">Run a flow version over a dataset above.</EmptyState>
          ) : (
            <div className="table-wrap">
              <table className="table">
                <thead>
                  <tr>
                    <th>Evaluation</th>
                    <th>Status</th>
                    <th>Progress</th>
                    <th>Cost (est.)</th>
                  </tr>
                </thead>
                <tbody>
                  {evaluations.data.map((e) => (
                    <tr key={e.id} className={selected === e.id ? "is-active" : ""} onClick={() => setSelected(e.id)}>
                      <td>
                        <button className="btn btn--ghost btn--sm">
                          {e.name || e.flow_name} {e.target}
                        </button>
                        <span className="muted"> on {e.dataset_name} v{e.dataset_version_number}</span>
                      </td>
                      <td>
                        <Badge>{e.status}</Badge>
                      </td>
                      <td>
                        <progress max={e.total} value={e.done} aria-label={`Progress of ${e.name || e.flow_name}`} /> {e.done}/{e.total}
                        {e.failed ? <span className="muted"> ({e.failed} failed)</span> : null}
                      </td>
                      <td>
                        {formatCost(e.cost)} ({formatCost(e.estimated_cost)})
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </div>
      </section>
      {selected && <Results key={selected} orgId={orgId} id={selected} />}
    </>
  );
}

/** The prompt node an evaluation of a prompt version replaced ("" for a plain version). */
const promptNodeOf = (evaluation: object) => (evaluation as { prompt_node?: string }).prompt_node ?? "";

type PromptNodeChoice = { id: string; label: string; template: string };

/** The flow's prompt nodes (from its draft: a version's node ids are the draft's when published). */
function usePromptNodes(orgId: string, flowId: string): PromptNodeChoice[] {
  const flow = useQuery({
    queryKey: ["orgs", orgId, "evaluation", "flow-prompts", flowId],
    queryFn: () => fetchFlow(orgId, flowId),
    enabled: Boolean(flowId),
  });
  if (!flowId || !flow.data) return [];
  const nodes = ((flow.data.draft as { nodes?: unknown[] } | undefined)?.nodes ?? []) as {
    id?: string;
    type?: string;
    label?: string | null;
    config?: { template?: string };
  }[];
  return nodes
    .filter((n) => n.type === "prompt" && typeof n.id === "string")
    .map((n) => ({ id: n.id as string, label: n.label || (n.id as string), template: n.config?.template ?? "" }));
}

function StartForm({ orgId, evaluations }: { orgId: string; evaluations: Evaluation[] }) {
  const flows = useFlows(orgId, "");
  const datasets = useDatasets(orgId);
  const mutations = useEvaluationMutations(orgId);
  const [flow, setFlow] = useState("");
  const [version, setVersion] = useState("published");
  const [dataset, setDataset] = useState("");
  const [kinds, setKinds] = useState<string[]>(["exact"]);
  const [samples, setSamples] = useState(1);
  const [baseline, setBaseline] = useState("");
  const [promptNode, setPromptNode] = useState("");
  const [promptTemplate, setPromptTemplate] = useState("");
  const promptNodes = usePromptNodes(orgId, flow);
  const input: EvaluationInput = {
    flow,
    version,
    dataset,
    evaluators: kinds.map((kind) => PRESETS[kind] ?? { name: kind, kind }),
    samples,
    concurrency: 4,
    baseline: baseline || null,
    prompt: promptNode ? { node: promptNode, template: promptTemplate } : null,
  };
  const ready = Boolean(flow && dataset && kinds.length && (!promptNode || promptTemplate.trim()));
  return (
    <section className="card">
      <div className="card__body form">
        <h2 className="section__title">Run an evaluation</h2>
        <div className="eval-row">
          <select
            className="select"
            aria-label="Flow"
            value={flow}
            onChange={(e) => {
              setFlow(e.target.value);
              setPromptNode("");
            }}
          >
            <option value="">Flow…</option>
            {(flows.data?.results ?? []).map((f) => (
              <option key={f.id} value={f.id}>
                {f.name}
              </option>
            ))}
          </select>
          <label>
            Version{" "}
            <input
              className="input eval-narrow"
              aria-label="Version"
              value={version}
              onChange={(e) => setVersion(e.target.value)}
              placeholder="published, draft or a number"
              title="A version number, draft or published"
            />
          </label>
          <select className="select" aria-label="Dataset" value={dataset} onChange={(e) => setDataset(e.target.value)}>
            <option value="">Dataset…</option>
            {(datasets.data ?? []).map((d) => (
              <option key={d.id} value={d.id}>
                {d.name} (v{d.latest_version})
              </option>
            ))}
          </select>
          <label>
            Samples{" "}
            <input className="input eval-narrow" type="number" min={1} max={10} aria-label="Samples" value={samples} onChange={(e) => setSamples(Number(e.target.value))} />
          </label>
          <select className="select" aria-label="Baseline" value={baseline} onChange={(e) => setBaseline(e.target.value)}>
            <option value="">No baseline</option>
            {evaluations
              .filter((e) => e.status === "completed")
              .map((e) => (
                <option key={e.id} value={e.id}>
                  {e.name || e.flow_name} {e.target} ({new Date(e.created_at).toLocaleString()})
                </option>
              ))}
          </select>
        </div>
        {promptNodes.length > 0 && (
          <div className="eval-row">
            <select
              className="select"
              aria-label="Prompt to replace"
              value={promptNode}
              onChange={(e) => {
                setPromptNode(e.target.value);
                const node = promptNodes.find((n) => n.id === e.target.value);
                setPromptTemplate(node?.template ?? "");
              }}
              title="Evaluate another text for one prompt node of this version"
            >
              <option value="">Prompts as in the version</option>
              {promptNodes.map((n) => (
                <option key={n.id} value={n.id}>
                  Replace prompt “{n.label}”
                </option>
              ))}
            </select>
            {promptNode && (
              <textarea
                className="input eval-prompt"
                aria-label="Replacement template"
                rows={3}
                maxLength={50000}
                value={promptTemplate}
                onChange={(e) => setPromptTemplate(e.target.value)}
                placeholder="The template to evaluate, with {{variables}}"
              />
            )}
          </div>
        )}
        <fieldset className="eval-row">
          <legend>Evaluators</legend>
          {Object.keys(PRESETS).map((kind) => (
            <label key={kind}>
              <input type="checkbox" checked={kinds.includes(kind)} onChange={(e) => setKinds(e.target.checked ? [...kinds, kind] : kinds.filter((k) => k !== kind))} /> {kind}
            </label>
          ))}
        </fieldset>
        <div className="eval-row">
          <button className="btn btn--ghost btn--sm" disabled={!ready} onClick={() => mutations.estimate.mutate(input)}>
            Estimate cost
          </button>
          {mutations.estimate.data && (
            <span>
              {mutations.estimate.data.runs} runs, about {formatCost(mutations.estimate.data.estimated_cost)}
            </span>
          )}
          <button className="btn btn--sm" disabled={!ready || mutations.start.isPending} onClick={() => mutations.start.mutate(input)}>
            Start evaluation
          </button>
        </div>
        <FormError error={mutations.start.error ?? mutations.estimate.error} />
      </div>
    </section>
  );
}

function Results({ orgId, id }: { orgId: string; id: string }) {
  const [regressions, setRegressions] = useState(false);
  const [live, setLive] = useState<{ done: number; total: number; cost: string } | null>(null);
  const detail = useEvaluation(orgId, id);
  const status = detail.data?.status;
  const rows = useItemRows(orgId, id, regressions, status);
  const mutations = useEvaluationMutations(orgId);
  const active = status === "queued" || status === "running";
  const refetch = detail.refetch;
  useEffect(() => {
    // Progress on the tab's socket (evaluation.progress at each change); the row is read again
    // when the evaluation ends, and every few seconds in case the socket is down.
    if (!active) return;
    const timer = setInterval(() => void refetch(), 5000);
    if (typeof WebSocket === "undefined") return () => clearInterval(timer);
    const socket = new ReconnectingSocket({
      url: socketUrl(window.location),
      onStatus: (state) => state === "connected" && socket.send({ type: "evaluation.subscribe", evaluation: id }),
      onMessage: (message) => {
        if (message.type !== "evaluation.progress" || message.evaluation !== id) return;
        setLive({ done: Number(message.done), total: Number(message.total), cost: String(message.cost) });
        if (message.status !== "queued" && message.status !== "running") void refetch();
      },
    });
    socket.start();
    return () => {
      clearInterval(timer);
      socket.stop();
    };
  }, [active, id, refetch]);
  if (detail.isError) return <ErrorState error={detail.error} />;
  if (!detail.data) return <LoadingState label="Loading results…" />;
  const evaluation = detail.data;
  const summary = (evaluation.summary ?? {}) as Summary;
  return (
    <section className="card" aria-label="Results">
      <div className="card__body">
        <div className="eval-row">
          <h2 className="section__title">
            Results: {evaluation.flow_name} {evaluation.target} <Badge>{evaluation.status}</Badge>
          </h2>
          {(status === "queued" || status === "running") && (
            <button className="btn btn--ghost btn--sm" onClick={() => mutations.cancel.mutate(id)}>
              Cancel
            </button>
          )}
          <a className="btn btn--ghost btn--sm" href={`/api/v1/orgs/${orgId}/evaluations/${id}/export/?format=csv`}>
            Export CSV
          </a>
          <a className="btn btn--ghost btn--sm" href={`/api/v1/orgs/${orgId}/evaluations/${id}/export/?format=jsonl`}>
            Export JSONL
          </a>
        </div>
        {active && (
          <p role="status">
            <progress max={live?.total ?? evaluation.total} value={live?.done ?? evaluation.done} aria-label="Evaluation progress" />{" "}
            {live?.done ?? evaluation.done}/{live?.total ?? evaluation.total} samples, cost so far {formatCost(live?.cost ?? evaluation.cost)} (estimated{" "}
            {formatCost(evaluation.estimated_cost)})
          </p>
        )}
        {!active && (
          <p className="muted" data-testid="evaluation-cost">
            Cost {formatCost(evaluation.cost)}
            {summary.judge_cost !== undefined ? `, of which judges ${formatCost(summary.judge_cost)}` : ""} (estimated {formatCost(evaluation.estimated_cost)})
            {promptNodeOf(evaluation) ? ` · prompt “${promptNodeOf(evaluation)}” replaced for this evaluation` : ""}
          </p>
        )}
        {evaluation.error && <p className="runs-error-text">{evaluation.error}</p>}
        <table className="table">
          <thead>
            <tr>
              <th>Evaluator</th>
              <th>Mean</th>
              <th>95% CI</th>
              <th>Items</th>
              <th>vs baseline</th>
            </tr>
          </thead>
          <tbody>
            {Object.entries(summary.evaluators ?? {}).map(([name, e]) => {
              const comparison = summary.comparison?.[name];
              return (
                <tr key={name}>
                  <td>{name}</td>
                  <td>{score(e.mean)}</td>
                  <td>{interval(e.ci_low, e.ci_high)}</td>
                  <td>{e.n ?? 0}</td>
                  <td className={comparison?.significant ? `eval-${comparison.direction}` : ""}>
                    {comparison ? `${comparison.mean_difference >= 0 ? "+" : ""}${comparison.mean_difference.toFixed(3)}, ${verdict(comparison)}` : "–"}
                  </td>
                </tr>
              );
            })}
          </tbody>
        </table>
        {summary.gate && (
          <p>
            Gate: <Badge tone={summary.gate.passed ? "success" : "danger"}>{summary.gate.passed ? "passed" : "failed"}</Badge>
          </p>
        )}
        <div className="charts">
          {Object.keys(summary.evaluators ?? {}).map((name) => (
            <Distribution key={name} name={name} values={sampleScores(rows.data ?? [], name)} />
          ))}
        </div>
        <label className="runs-filter runs-filter--check">
          <input type="checkbox" checked={regressions} onChange={(e) => setRegressions(e.target.checked)} /> Only regressions against the baseline
        </label>
        {rows.data && <ItemTable rows={rows.data} />}
      </div>
    </section>
  );
}

function Distribution({ name, values }: { name: string; values: number[] }) {
  const counts = histogram(values, 10);
  const max = Math.max(...counts, 1);
  return (
    <figure className="chart" aria-label={`Distribution of ${name}`}>
      <figcaption className="chart__title">{name}: scores of {values.length} samples</figcaption>
      <svg viewBox="0 0 100 40" preserveAspectRatio="none" className="chart__svg" role="img" aria-label={`Distribution of ${name}`}>
        {counts.map((count, i) => (
          <rect key={i} x={i * 10 + 1} y={40 - (count / max) * 38} width={8} height={(count / max) * 38} className="chart__bar">
            <title>
              {(i / 10).toFixed(1)}–{((i + 1) / 10).toFixed(1)}: {count}
            </title>
          </rect>
        ))}
      </svg>
      <div className="chart__axis muted">
        <span>0</span>
        <span>max {max}</span>
        <span>1</span>
      </div>
    </figure>
  );
}

function ItemTable({ rows }: { rows: ItemRow[] }) {
  if (rows.length === 0) return <p className="muted">No items to show.</p>;
  return (
    <div className="table-wrap">
      <table className="table eval-items">
        <thead>
          <tr>
            <th>Message</th>
            <th>Answers</th>
            <th>Baseline answers</th>
            <th>Means (baseline)</th>
          </tr>
        </thead>
        <tbody>
          {rows.map((row) => (
            <tr key={row.item_key} className={row.regressed.length ? "eval-regressed" : ""}>
              <td>
                {row.message}
                {row.expected_output && <div className="muted">expected: {row.expected_output}</div>}
              </td>
              <td>
                {row.samples.map((s) => (
                  <div key={s.id} className={s.ok ? "" : "runs-error-text"}>
                    {s.ok ? s.output : s.error}
                  </div>
                ))}
              </td>
              <td>
                {row.baseline_outputs.map((output, i) => (
                  <div key={i}>{output}</div>
                ))}
              </td>
              <td>
                {Object.entries(row.means).map(([name, mean]) => (
                  <div key={name}>
                    {name}: {score(mean)} ({score(row.baseline_means[name])}){row.regressed.includes(name) ? " ↓" : ""}
                  </div>
                ))}
              </td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

function Review({ orgId }: { orgId: string }) {
  const queue = useReviewQueue(orgId);
  const mutations = useEvaluationMutations(orgId);
  const [comment, setComment] = useState("");
  if (queue.isError) return <ErrorState error={queue.error} />;
  if (!queue.data) return <LoadingState label="Loading the review queue…" />;
  if (queue.data.length === 0) return <EmptyState title="Nothing to review">Samples of evaluations with a human evaluator wait here for a grade.</EmptyState>;
  const sample = queue.data[0];
  if (!sample) return null;
  const evaluator = Object.entries(sample.scores as Record<string, { pending?: boolean }>).find(([, s]) => s.pending)?.[0] ?? "human";
  return (
    <section className="card">
      <div className="card__body form">
        <h2 className="section__title">
          Review ({queue.data.length} waiting) — {sample.evaluation_name || "evaluation"}
        </h2>
        <p>
          <strong>Question:</strong> {sample.message}
        </p>
        <p>
          <strong>Answer:</strong> {sample.output}
        </p>
        {sample.expected_output && <p className="muted">Expected: {sample.expected_output}</p>}
        <input className="input" aria-label="Comment" placeholder="Comment (optional)" value={comment} onChange={(e) => setComment(e.target.value)} />
        <div className="eval-row">
          {[0, 0.25, 0.5, 0.75, 1].map((value) => (
            <button
              key={value}
              className="btn btn--sm"
              onClick={() =>
                mutations.grade.mutate(
                  { evaluation: sample.evaluation, sample: sample.id, evaluator, score: value, comment },
                  { onSuccess: () => setComment("") },
                )
              }
            >
              {value}
            </button>
          ))}
        </div>
        <FormError error={mutations.grade.error} />
      </div>
    </section>
  );
}

function Gates({ orgId, admin }: { orgId: string; admin: boolean }) {
  const flows = useFlows(orgId, "");
  const [flow, setFlow] = useState("");
  return (
    <section className="card">
      <div className="card__body form">
        <h2 className="section__title">Publish gates</h2>
        <p className="muted">
          A gate is the bar a flow's draft must clear before it is published: run on a dataset, it needs the exact-match mean you set and,
          if you ask, no significant regression against the published version. Pick a flow to see or set its gate.
        </p>
        <select className="select" aria-label="Gate flow" value={flow} onChange={(e) => setFlow(e.target.value)}>
          <option value="">Flow…</option>
          {(flows.data?.results ?? []).map((f) => (
            <option key={f.id} value={f.id}>
              {f.name}
            </option>
          ))}
        </select>
        {flow && <GateEditor key={flow} orgId={orgId} flowId={flow} admin={admin} />}
      </div>
    </section>
  );
}

function GateEditor({ orgId, flowId, admin }: { orgId: string; flowId: string; admin: boolean }) {
  const state = useGate(orgId, flowId);
  const datasets = useDatasets(orgId);
  const mutations = useGateMutations(orgId, flowId);
  const [dataset, setDataset] = useState("");
  const [threshold, setThreshold] = useState(0.8);
  const [samples, setSamples] = useState(1);
  const [noRegression, setNoRegression] = useState(true);
  useEffect(() => {
    const gate = state.data?.gate;
    if (!gate) return;
    setDataset(gate.dataset);
    setThreshold(Object.values(gate.thresholds as Record<string, number>)[0] ?? 0.8);
    setSamples(gate.samples ?? 1);
    setNoRegression(gate.no_regression ?? true);
  }, [state.data?.gate]);
  if (state.isError) return <ErrorState error={state.error} />;
  if (!state.data) return <LoadingState label="Loading the gate…" />;
  const latest = state.data.latest;
  const gateSummary = (latest?.summary ?? {}) as Summary;
  return (
    <>
      <div className="eval-row">
        <select className="select" aria-label="Gate dataset" value={dataset} onChange={(e) => setDataset(e.target.value)} disabled={!admin}>
          <option value="">Dataset…</option>
          {(datasets.data ?? []).map((d) => (
            <option key={d.id} value={d.id}>
              {d.name}
            </option>
          ))}
        </select>
        <label>
          Exact-match mean at least{" "}
          <input className="input eval-narrow" type="number" step={0.05} min={0} max={1} aria-label="Gate threshold" value={threshold} onChange={(e) => setThreshold(Number(e.target.value))} disabled={!admin} />
        </label>
        <label>
          Samples <input className="input eval-narrow" type="number" min={1} max={10} aria-label="Gate samples" value={samples} onChange={(e) => setSamples(Number(e.target.value))} disabled={!admin} />
        </label>
        <label>
          <input type="checkbox" checked={noRegression} onChange={(e) => setNoRegression(e.target.checked)} disabled={!admin} /> No significant regression vs the published version
        </label>
        <button
          className="btn btn--sm"
          disabled={!admin || !dataset}
          onClick={() =>
            mutations.save.mutate({
              dataset,
              evaluators: [{ name: "exact", kind: "exact" }],
              thresholds: { exact: threshold },
              samples,
              no_regression: noRegression,
              enabled: true,
            })
          }
        >
          Save gate
        </button>
      </div>
      {!admin && <p className="muted">Only admins change a gate.</p>}
      {!state.data.gate && <p className="muted">This flow has no gate: it publishes without an evaluation.</p>}
      <FormError error={mutations.save.error ?? mutations.run.error} />
      {state.data.gate && (
        <div className="eval-row">
          <button className="btn btn--sm" onClick={() => mutations.run.mutate()} disabled={mutations.run.isPending}>
            Run gate on the draft
          </button>
          {latest ? (
            <span>
              Latest gate run: <Badge>{latest.status}</Badge> {latest.done}/{latest.total}
              {latest.draft_revision !== state.data.draft_revision && " (an older draft: run it again)"}
              {gateSummary.gate && (
                <Badge tone={gateSummary.gate.passed ? "success" : "danger"}>{gateSummary.gate.passed ? "passed" : "failed"}</Badge>
              )}
            </span>
          ) : (
            <span className="muted">The gate has not run on this flow yet.</span>
          )}
        </div>
      )}
      {gateSummary.gate && <GateReport report={gateSummary.gate} />}
    </>
  );
}

export function GateReport({ report }: { report: NonNullable<Summary["gate"]> & { regressions?: { evaluator: string; p_value: number }[] } }) {
  return (
    <ul className="eval-errors" aria-label="Gate report">
      {report.checks.map((check) => (
        <li key={check.evaluator} className={check.passed ? "" : "runs-error-text"}>
          {check.evaluator}: mean {score(check.mean)} (at least {check.threshold}) — {check.passed ? "passed" : "failed"}
        </li>
      ))}
      {(report.regressions ?? []).map((r) => (
        <li key={`r-${r.evaluator}`} className="runs-error-text">
          {r.evaluator}: significantly worse than the published version (p = {r.p_value.toFixed(3)})
        </li>
      ))}
    </ul>
  );
}

export const gateErrorText = (error: unknown) => errorMessage(error);
