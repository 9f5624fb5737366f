/** Test questions of a base: upload or write questions with the documents that should answer
 * them, or pick an evaluation dataset (its items with expected sources), run them per search mode
 * (hit@1/5/k, MRR, latency) with BM25 k1/b and fusion weights to try, and keep the parameters
 * that score best. */
import { useRef, useState } from "react";
import { useDatasets } from "../evaluation/api";
import { ErrorState, FormError, LoadingState } from "../ui/feedback";
import {
  useEvaluate,
  useSaveTestQuestions,
  useTestQuestions,
  useUpdateKnowledgeBase,
  type Evaluation,
  type KbDocument,
  type KnowledgeBase,
  type TestQuestion,
} from "./api";
import { parseQuestionSet } from "./questions";

const MODES = ["vector", "keyword", "hybrid"] as const;
const pct = (value: number) => value.toFixed(3);

interface Tuning {
  k: number;
  bm25_k1: number;
  bm25_b: number;
  vector_weight: number;
  keyword_weight: number;
  depth: number;
}

export function QuestionSetPanel({ orgId, kb, documents }: { orgId: string; kb: KnowledgeBase; documents: KbDocument[] }) {
  const saved = useTestQuestions(orgId, kb.id);
  const save = useSaveTestQuestions(orgId, kb.id);
  const evaluate = useEvaluate(orgId, kb.id);
  const update = useUpdateKnowledgeBase(orgId, kb.id);
  const [draft, setDraft] = useState<TestQuestion[] | null>(null); // an uploaded or edited set, not saved yet
  const [problems, setProblems] = useState<string[]>([]);
  const [question, setQuestion] = useState("");
  const [expected, setExpected] = useState("");
  const [tuning, setTuning] = useState<Tuning>({
    k: 10,
    bm25_k1: kb.bm25_k1,
    bm25_b: kb.bm25_b,
    vector_weight: 1,
    keyword_weight: 2,
    depth: 10,
  });
  const file = useRef<HTMLInputElement>(null);
  const datasets = useDatasets(orgId);
  const [datasetId, setDatasetId] = useState(""); // "": the base's own (or uploaded) questions
  const dataset = datasets.data?.find((d) => d.id === datasetId && (d.latest_version ?? 0) > 0);
  const questions = draft ?? saved.data?.questions ?? [];
  const dirty = draft !== null;

  const read = async (chosen: File) => {
    const parsed = parseQuestionSet(chosen.name, await chosen.text());
    setProblems(parsed.problems);
    if (parsed.questions.length) setDraft(parsed.questions);
  };
  const run = () =>
    evaluate.mutate({
      ...tuning,
      modes: [...MODES],
      ...(dataset ? { dataset: dataset.id } : dirty ? { questions } : {}),
    });
  const field = (key: keyof Tuning, label: string, step: number, min: number, max: number) => (
    <label className="field kb-tuning__field">
      <span>{label}</span>
      <input
        className="input"
        type="number"
        step={step}
        min={min}
        max={max}
        value={tuning[key]}
        onChange={(e) => setTuning({ ...tuning, [key]: Number(e.target.value) })}
      />
    </label>
  );

  return (
    <section className="card card__body kb-section" aria-label="Test questions">
      <div className="kb-section__head">
        <h3>Test questions</h3>
        <button type="button" className="btn btn--sm" onClick={() => file.current?.click()}>
          Upload a question set
        </button>
        <input
          ref={file}
          type="file"
          hidden
          accept=".csv,.json,.jsonl,.txt"
          aria-label="Question set file"
          onChange={(e) => {
            const chosen = e.target.files?.[0];
            if (chosen) void read(chosen);
            e.target.value = "";
          }}
        />
      </div>
      <p className="muted">
        Questions your users ask, each with the documents that should answer it (by name, title or page URL). CSV: a
        question, then its documents; or JSON <code>[{"{"}"question", "expected": [..]{"}"}]</code>.
      </p>
      {saved.isPending && <LoadingState />}
      {saved.isError && <ErrorState error={saved.error} />}
      {problems.length > 0 && (
        <ul className="kb-error" aria-label="Problems in the question set">
          {problems.map((problem) => (
            <li key={problem}>{problem}</li>
          ))}
        </ul>
      )}
      <form
        className="kb-search-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (!question.trim() || !expected) return;
          setDraft([...questions, { question: question.trim(), expected: [expected] }]);
          setQuestion("");
        }}
      >
        <input
          className="input"
          aria-label="New test question"
          placeholder="A question…"
          value={question}
          onChange={(e) => setQuestion(e.target.value)}
        />
        <select
          className="input kb-select"
          aria-label="Document that answers it"
          value={expected}
          onChange={(e) => setExpected(e.target.value)}
        >
          <option value="">Document that answers it…</option>
          {documents.map((doc) => (
            <option key={doc.id} value={doc.name}>
              {doc.name}
            </option>
          ))}
        </select>
        <button type="submit" className="btn" disabled={!question.trim() || !expected}>
          Add
        </button>
      </form>
      {questions.length === 0 && !saved.isPending && (
        <p className="muted">No test questions yet: upload a set or add them one by one.</p>
      )}
      {questions.length > 0 && (
        <details className="kb-questions">
          <summary>
            {questions.length} {questions.length === 1 ? "question" : "questions"}
            {dirty ? " (not saved)" : ""}
          </summary>
          <ol>
            {questions.map((q, i) => (
              <li key={i}>
                {q.question} <span className="muted">→ {q.expected.join(", ")}</span>{" "}
                <button
                  type="button"
                  className="kb-link"
                  aria-label={`Remove question ${i + 1}`}
                  onClick={() => setDraft(questions.filter((_, j) => j !== i))}
                >
                  remove
                </button>
              </li>
            ))}
          </ol>
        </details>
      )}
      {dirty && (
        <div className="kb-actions">
          <button
            type="button"
            className="btn"
            disabled={save.isPending}
            onClick={() => save.mutate(questions, { onSuccess: () => setDraft(null) })}
          >
            Save as this base's questions
          </button>
          <button type="button" className="btn btn--ghost" onClick={() => (setDraft(null), setProblems([]))}>
            Discard changes
          </button>
        </div>
      )}
      <FormError error={save.error} />
      {!!datasets.data?.some((d) => (d.latest_version ?? 0) > 0) && (
        <label className="field kb-question-set">
          <span>Question set to run</span>
          <select className="input" value={datasetId} onChange={(e) => setDatasetId(e.target.value)}>
            <option value="">{dirty ? "These questions (not saved)" : "This base's test questions"}</option>
            {datasets.data
              .filter((d) => (d.latest_version ?? 0) > 0)
              .map((d) => (
                <option key={d.id} value={d.id}>
                  Evaluation dataset: {d.name} (version {d.latest_version})
                </option>
              ))}
          </select>
          {dataset && (
            <small className="muted">
              Its items that name expected sources are asked; each item's message is the question.
            </small>
          )}
        </label>
      )}
      <fieldset className="kb-tuning" aria-label="Ranking parameters">
        <legend>Ranking parameters to try</legend>
        {field("k", "Top k", 1, 1, 50)}
        {field("bm25_k1", "BM25 k1", 0.1, 0, 10)}
        {field("bm25_b", "BM25 b", 0.05, 0, 1)}
        {field("vector_weight", "Vector weight", 0.5, 0, 10)}
        {field("keyword_weight", "Keyword weight", 0.5, 0, 10)}
        {field("depth", "Fusion depth", 1, 1, 50)}
      </fieldset>
      <div className="kb-actions">
        <button
          type="button"
          className="btn btn--primary"
          disabled={(!dataset && questions.length === 0) || evaluate.isPending}
          onClick={run}
        >
          {evaluate.isPending
            ? dataset
              ? `Running ${dataset.name}…`
              : `Running ${questions.length} questions…`
            : "Run the questions"}
        </button>
      </div>
      {evaluate.isError && <ErrorState error={evaluate.error} title="The questions could not run" />}
      {evaluate.data && (
        <Results
          data={evaluate.data}
          canApply={evaluate.data.bm25_k1 !== kb.bm25_k1 || evaluate.data.bm25_b !== kb.bm25_b}
          applying={update.isPending}
          applied={update.isSuccess}
          onApply={() => update.mutate({ bm25_k1: evaluate.data.bm25_k1, bm25_b: evaluate.data.bm25_b })}
        />
      )}
      <FormError error={update.error} />
    </section>
  );
}

function Results({ data, canApply, applying, applied, onApply }: {
  data: Evaluation;
  canApply: boolean;
  applying: boolean;
  applied: boolean;
  onApply: () => void;
}) {
  const best = Math.max(...data.scores.map((s) => s.mrr));
  const unmatched = [...new Set(data.questions.flatMap((q) => q.unmatched))];
  return (
    <div className="kb-eval">
      <div className="table-wrap">
        <table className="table" aria-label="Scores per mode">
          <thead>
            <tr>
              <th>Mode</th>
              <th>hit@1</th>
              <th>hit@5</th>
              <th>hit@{data.k}</th>
              <th>MRR@{data.k}</th>
              <th>p50 / p95 ms</th>
            </tr>
          </thead>
          <tbody>
            {data.scores.map((score) => (
              <tr key={score.mode} data-mode={score.mode}>
                <td>{score.mode}</td>
                <td>{pct(score.hit_at_1)}</td>
                <td>{pct(score.hit_at_5)}</td>
                <td>{pct(score.hit_at_k)}</td>
                <td>{score.mrr === best ? <strong>{pct(score.mrr)}</strong> : pct(score.mrr)}</td>
                <td>
                  {score.p50_ms.toFixed(0)} / {score.p95_ms.toFixed(0)}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="muted">
        With BM25 k1 = {data.bm25_k1}, b = {data.bm25_b} over {data.questions.length} questions.{" "}
        {canApply && !applied && (
          <button type="button" className="btn btn--sm" disabled={applying} onClick={onApply}>
            Use k1 = {data.bm25_k1}, b = {data.bm25_b} for this base
          </button>
        )}
        {applied && <span role="status">Saved: keyword search now uses these values.</span>}
      </p>
      {unmatched.length > 0 && (
        <p className="kb-error">No document of this base is named {unmatched.map((u) => `“${u}”`).join(", ")}.</p>
      )}
      <details>
        <summary>Rank of the expected document per question</summary>
        <div className="table-wrap">
          <table className="table" aria-label="Ranks per question">
            <thead>
              <tr>
                <th>Question</th>
                {data.scores.map((s) => (
                  <th key={s.mode}>{s.mode}</th>
                ))}
              </tr>
            </thead>
            <tbody>
              {data.questions.map((q, i) => (
                <tr key={i}>
                  <td>{q.question}</td>
                  {data.scores.map((s) => (
                    <td key={s.mode}>{q.ranks[s.mode] ?? "—"}</td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </div>
  );
}
