import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeBackend, ORG_A, renderWithClient } from "../test/utils";
import type { KnowledgeBase, ReembedJob } from "./api";
import { EmbeddingModelSelect, ReembedPanel } from "./Embeddings";

const KB_ID = "33333333-3333-4333-8333-333333333333";
const MODELS_URL = `/api/v1/orgs/${ORG_A}/knowledge-bases/embedding-models/`;
const REEMBED_URL = `/api/v1/orgs/${ORG_A}/knowledge-bases/${KB_ID}/reembed/`;
const MODELS = [
  { id: "local", name: "all-MiniLM-L6-v2 (built in, on this server)", dimensions: 384, problem: "" },
  { id: "wide", name: "Wide", dimensions: 768, problem: "" },
  { id: "gone", name: "Gone", dimensions: null, problem: "The embedding endpoint 'gone' cannot be reached." },
];
const kb = {
  id: KB_ID,
  name: "Handbook",
  embedding_model: "local",
  embedding_dims: 384,
} as KnowledgeBase;

function job(fields: Partial<ReembedJob>): ReembedJob {
  return {
    id: "66666666-6666-4666-8666-666666666666",
    from_model: "local",
    target_model: "wide",
    target_dims: 768,
    status: "running",
    done: 32,
    total: 100,
    error_code: "",
    error_message: "",
    attempts: 1,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
    finished_at: null,
    ...fields,
  };
}

afterEach(() => vi.unstubAllGlobals());

describe("EmbeddingModelSelect", () => {
  it("lists each model with its size, and one that does not answer disabled with why", async () => {
    fakeBackend({ [`GET ${MODELS_URL}`]: { status: 200, body: MODELS } });
    const onChange = vi.fn();
    renderWithClient(<EmbeddingModelSelect orgId={ORG_A} value="local" onChange={onChange} />);
    const select = await screen.findByRole("combobox", { name: "Embedding model" });
    const options = within(select).getAllByRole("option");
    expect(options.map((o) => o.textContent)).toEqual([
      "all-MiniLM-L6-v2 (built in, on this server) · 384 dimensions",
      "wide — Wide · 768 dimensions",
      "gone — Gone · not answering",
    ]);
    expect(options[2]).toBeDisabled();
    expect(screen.getByRole("note")).toHaveTextContent("gone: The embedding endpoint 'gone' cannot be reached.");
    await userEvent.selectOptions(select, "wide");
    expect(onChange).toHaveBeenCalledWith("wide");
  });
});

describe("ReembedPanel", () => {
  it("shows a running job's progress and cancels it", async () => {
    const { requests } = fakeBackend({
      [`GET ${REEMBED_URL}`]: { status: 200, body: { job: job({}) } },
      [`POST ${REEMBED_URL}cancel/`]: { status: 200, body: { job: job({ status: "cancelled" }) } },
    });
    renderWithClient(<ReembedPanel orgId={ORG_A} kb={kb} />);
    const bar = await screen.findByRole("progressbar", { name: "Re-embed progress" });
    expect(bar).toHaveAttribute("value", "32");
    expect(bar).toHaveAttribute("max", "100");
    expect(screen.getByRole("status", { name: "Re-embed job" })).toHaveTextContent("Re-embedding: local → wide (768 dimensions)");
    expect(screen.getByText("32 / 100 chunks")).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Cancel re-embed" }));
    await waitFor(() => expect(screen.getByRole("status", { name: "Re-embed job" })).toHaveTextContent("Cancelled"));
    expect(requests.some((r) => r.method === "POST" && r.path === `${REEMBED_URL}cancel/`)).toBe(true);
  });

  it("says why a job stopped and resumes it", async () => {
    const message = "The embedding endpoint 'wide' answered HTTP 503. Nothing was switched; resume when it answers again.";
    const { requests } = fakeBackend({
      [`GET ${REEMBED_URL}`]: { status: 200, body: { job: job({ status: "failed", error_code: "embedding_failed", error_message: message }) } },
      [`POST ${REEMBED_URL}resume/`]: { status: 202, body: { job: job({ status: "queued" }) } },
    });
    renderWithClient(<ReembedPanel orgId={ORG_A} kb={kb} />);
    expect(await screen.findByText(message)).toBeInTheDocument();
    await userEvent.click(screen.getByRole("button", { name: "Resume" }));
    await waitFor(() => expect(screen.getByRole("status", { name: "Re-embed job" })).toHaveTextContent("Waiting for a worker"));
    expect(requests.filter((r) => r.path === `${REEMBED_URL}resume/`)).toHaveLength(1);
  });

  it("starts a re-embed onto a model of another size", async () => {
    const { requests } = fakeBackend({
      [`GET ${REEMBED_URL}`]: { status: 200, body: { job: null } },
      [`GET ${MODELS_URL}`]: { status: 200, body: MODELS },
      [`POST ${REEMBED_URL}`]: { status: 202, body: { job: job({ status: "queued", done: 0 }) } },
    });
    renderWithClient(<ReembedPanel orgId={ORG_A} kb={kb} />);
    await userEvent.click(await screen.findByRole("button", { name: "Re-embed with another model…" }));
    const dialog = screen.getByRole("dialog");
    await userEvent.selectOptions(await within(dialog).findByRole("combobox", { name: "New model" }), "wide");
    await userEvent.click(within(dialog).getByRole("button", { name: "Start re-embedding" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(requests.find((r) => r.method === "POST")?.body).toEqual({ embedding_model: "wide" });
    expect(screen.getByRole("progressbar", { name: "Re-embed progress" })).toBeInTheDocument();
  });
});
