import { QueryClientProvider } from "@tanstack/react-query";
import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeBackend, FakeWebSocket, ORG_A, renderWithClient, type RecordedRequest } from "../test/utils";
import type { ChunkSettings, KbDocument, KnowledgeBase, PreviewChunk } from "./api";
import { ChunkPreview, chunkingProblem } from "./ChunkPreview";
import { KnowledgeBaseView } from "./KnowledgeBaseView";

const KB_ID = "33333333-3333-4333-8333-333333333333";
const DOC_ID = "44444444-4444-4444-8444-444444444444";
const SAMPLE_URL = `/api/v1/orgs/${ORG_A}/knowledge-bases/chunk-preview/`;
const KB_URL = `/api/v1/orgs/${ORG_A}/knowledge-bases/${KB_ID}/chunk-preview/`;
const SETTINGS: ChunkSettings = { chunk_strategy: "sentence", chunk_size: 64, chunk_overlap: 16 };

function chunk(text: string, start: number, overlapChars = 0, overlapTokens = 0): PreviewChunk {
  return {
    text,
    page: null,
    heading_path: [],
    token_count: text.split(" ").length,
    start_char: start,
    end_char: start + text.length,
    overlap_chars: overlapChars,
    overlap_tokens: overlapTokens,
  };
}

/** Answers like the backend: one chunk per sentence, each repeating the previous one's last sentence. */
function chunker(request: RecordedRequest) {
  const body = request.body as ChunkSettings & { text?: string; document?: string };
  const sentences = [...((body.text ?? "Parsed first. Parsed second.").match(/[^.]+\./g) ?? [])].map((s) => s.trim());
  const chunks = sentences.map((s, i) => {
    const previous = sentences[i - 1];
    return previous === undefined ? chunk(s, 0) : chunk(`${previous} ${s}`, i * 10, previous.length, 3);
  });
  return { status: 200, body: { chunks, truncated: false } };
}

const posts = (requests: RecordedRequest[]) => requests.filter((r) => r.method === "POST");

afterEach(() => {
  vi.unstubAllGlobals();
  vi.useRealTimers();
});

describe("ChunkPreview", () => {
  it("previews a pasted sample once typing settles, with count, sizes and the overlap marked", async () => {
    const { requests } = fakeBackend({ [`POST ${SAMPLE_URL}`]: chunker });
    renderWithClient(<ChunkPreview orgId={ORG_A} settings={SETTINGS} />);
    await userEvent.type(screen.getByLabelText("Sample text for a preview"), "Ferries leave. Boats return. Gulls circle.");

    expect(await screen.findByText("3 chunks")).toBeInTheDocument();
    // Debounced: one request for the whole sample, not one per keystroke.
    expect(posts(requests).filter((r) => r.path === SAMPLE_URL)).toHaveLength(1);
    expect(posts(requests)[0]?.body).toEqual({ text: "Ferries leave. Boats return. Gulls circle.", ...SETTINGS });

    const items = screen.getAllByTestId("preview-chunk");
    expect(items).toHaveLength(3);
    expect(items[0]).toHaveTextContent("#1 · 2 tokens · 14 chars");
    expect(items[0]?.querySelector("mark")).toBeNull();
    expect(items[1]).toHaveTextContent("3 tokens overlap");
    expect(items[1]?.querySelector("mark.kb-overlap")).toHaveTextContent("Ferries leave.");
    expect(screen.getByTestId("preview-summary")).toHaveTextContent("overlap about 3 tokens");
  });

  it("asks again when the settings change, and not for settings the backend would refuse", async () => {
    const { requests } = fakeBackend({ [`POST ${SAMPLE_URL}`]: chunker });
    const { rerender, queryClient } = renderWithClient(<ChunkPreview orgId={ORG_A} settings={SETTINGS} />);
    const show = (settings: ChunkSettings) =>
      rerender(
        <QueryClientProvider client={queryClient}>
          <ChunkPreview orgId={ORG_A} settings={settings} />
        </QueryClientProvider>,
      );
    await userEvent.type(screen.getByLabelText("Sample text for a preview"), "One. Two.");
    expect(await screen.findByText("2 chunks")).toBeInTheDocument();

    show({ ...SETTINGS, chunk_strategy: "token", chunk_size: 128 });
    await waitFor(() => expect(posts(requests)).toHaveLength(2));
    expect(posts(requests)[1]?.body).toMatchObject({ chunk_strategy: "token", chunk_size: 128, chunk_overlap: 16 });

    show({ ...SETTINGS, chunk_size: 64, chunk_overlap: 40 });
    expect(await screen.findByRole("alert")).toHaveTextContent("at most half the chunk size");
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(posts(requests)).toHaveLength(2);
  });

  it("shows the backend's message when it refuses", async () => {
    fakeBackend({
      [`POST ${SAMPLE_URL}`]: { status: 400, body: { code: "invalid", message: "text: Ensure this field has no more than 20000 characters." } },
    });
    renderWithClient(<ChunkPreview orgId={ORG_A} settings={SETTINGS} />);
    await userEvent.type(screen.getByLabelText("Sample text for a preview"), "Too long.");
    expect(await screen.findByRole("alert")).toHaveTextContent("no more than 20000 characters");
  });

  it("previews on a base's document through the base's endpoint", async () => {
    const { requests } = fakeBackend({ [`POST ${KB_URL}`]: chunker });
    renderWithClient(<ChunkPreview orgId={ORG_A} kbId={KB_ID} doc={{ id: DOC_ID, name: "handbook.md" }} settings={SETTINGS} />);
    expect(screen.getByText("handbook.md")).toBeInTheDocument();
    expect(screen.queryByLabelText("Sample text for a preview")).toBeNull();
    expect(await screen.findByText("2 chunks")).toBeInTheDocument();
    expect(posts(requests)[0]?.body).toEqual({ document: DOC_ID, ...SETTINGS });
  });

  it("knows the backend's bounds", () => {
    expect(chunkingProblem(SETTINGS)).toBeNull();
    expect(chunkingProblem({ ...SETTINGS, chunk_size: 16 })).toMatch(/between 32 and 2048/);
    expect(chunkingProblem({ ...SETTINGS, chunk_overlap: 33 })).toMatch(/half/);
  });
});

describe("Knowledge base settings", () => {
  const kb: KnowledgeBase = {
    id: KB_ID,
    name: "Handbook",
    description: "",
    embedding_model: "local",
    embedding_dims: 384,
    chunk_strategy: "sentence",
    chunk_size: 256,
    chunk_overlap: 32,
    language: "english",
    bm25_k1: 1.2,
    bm25_b: 0.75,
    settings_version: 1,
    document_count: 2,
    ready_count: 2,
    failed_count: 0,
    active_count: 0,
    created_at: "2026-01-01T00:00:00Z",
    updated_at: "2026-01-01T00:00:00Z",
  };
  const doc = (id: string, name: string, created_at: string): KbDocument => ({
    id,
    name,
    file_type: "markdown",
    size_bytes: 100,
    source: null,
    source_key: "",
    checksum: "x",
    version: 1,
    status: "ready",
    error_code: "",
    error_message: "",
    progress: 1,
    page_count: null,
    chunk_count: 2,
    created_at,
    updated_at: created_at,
  });

  it("previews new chunking on the first uploaded document and offers to re-index", async () => {
    vi.stubGlobal("WebSocket", FakeWebSocket);
    const { requests } = fakeBackend({
      [`GET /api/v1/orgs/${ORG_A}/knowledge-bases/${KB_ID}/documents/`]: {
        status: 200,
        body: [doc("55555555-5555-4555-8555-555555555555", "newer.md", "2026-02-01T00:00:00Z"), doc(DOC_ID, "first.md", "2026-01-02T00:00:00Z")],
      },
      [`POST ${KB_URL}`]: chunker,
      [`GET /api/v1/orgs/${ORG_A}/knowledge-bases/${KB_ID}/reembed/`]: { status: 200, body: { job: null } },
      [`PATCH /api/v1/orgs/${ORG_A}/knowledge-bases/${KB_ID}/`]: { status: 200, body: { ...kb, chunk_size: 128 } },
    });
    renderWithClient(<KnowledgeBaseView orgId={ORG_A} kb={kb} onBack={() => undefined} />);
    await screen.findByRole("cell", { name: /newer\.md/ });
    await userEvent.click(screen.getByRole("button", { name: "Settings" }));
    const dialog = screen.getByRole("dialog");
    expect(within(dialog).getByText("first.md")).toBeInTheDocument();
    expect(await within(dialog).findByText("2 chunks")).toBeInTheDocument();
    expect(within(dialog).getByRole("button", { name: "Save" })).toBeInTheDocument();

    const size = within(dialog).getByLabelText("Chunk size (tokens)");
    await userEvent.clear(size);
    await userEvent.type(size, "128");
    expect(within(dialog).getByRole("status")).toHaveTextContent("re-indexes all 2 documents");
    await waitFor(() => expect(requests.filter((r) => r.path === KB_URL).at(-1)?.body).toMatchObject({ chunk_size: 128 }));
    expect(requests.filter((r) => r.path === KB_URL).every((r) => (r.body as { document: string }).document === DOC_ID)).toBe(true);

    await userEvent.click(within(dialog).getByRole("button", { name: "Save and re-index" }));
    await waitFor(() => expect(requests.some((r) => r.method === "PATCH")).toBe(true));
    expect(requests.find((r) => r.method === "PATCH")?.body).toEqual({
      name: "Handbook",
      description: "",
      chunk_strategy: "sentence",
      chunk_size: 128,
      chunk_overlap: 32,
    });
  });
});
