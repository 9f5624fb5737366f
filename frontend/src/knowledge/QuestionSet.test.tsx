import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, describe, expect, it, vi } from "vitest";
import { fakeBackend, ORG_A, renderWithClient } from "../test/utils";
import type { KnowledgeBase } from "./api";
import { QuestionSetPanel } from "./QuestionSet";

const KB_ID = "33333333-3333-4333-8333-333333333333";
const DATASET_ID = "44444444-4444-4444-8444-444444444444";
const KB_URL = `/api/v1/orgs/${ORG_A}/knowledge-bases/${KB_ID}`;
const kb = { id: KB_ID, name: "Handbook", bm25_k1: 1.2, bm25_b: 0.75 } as KnowledgeBase;
const SCORE = { questions: 2, hit_at_1: 0.5, hit_at_5: 1, hit_at_k: 1, mrr: 0.75, p50_ms: 12, p95_ms: 20 };

afterEach(() => vi.unstubAllGlobals());

describe("QuestionSetPanel", () => {
  it("runs an evaluation dataset as the question set and shows the figures", async () => {
    const { requests } = fakeBackend({
      [`GET ${KB_URL}/questions/`]: { status: 200, body: { questions: [] } },
      [`GET /api/v1/orgs/${ORG_A}/datasets/`]: {
        status: 200,
        body: [
          { id: DATASET_ID, name: "Harbour questions", description: "", latest_version: 3, created_at: "", updated_at: "" },
          { id: "empty", name: "Empty", description: "", latest_version: 0, created_at: "", updated_at: "" },
        ],
      },
      [`POST ${KB_URL}/evaluate/`]: {
        status: 200,
        body: {
          k: 10,
          bm25_k1: 1.2,
          bm25_b: 0.75,
          scores: ["vector", "keyword", "hybrid"].map((mode) => ({ mode, ...SCORE })),
          questions: [
            { question: "when is the flood tide", expected: ["tides.md"], unmatched: [], ranks: { hybrid: 1 } },
            { question: "why smoke the hive", expected: ["Bees"], unmatched: [], ranks: { hybrid: 2 } },
          ],
        },
      },
    });
    renderWithClient(<QuestionSetPanel orgId={ORG_A} kb={kb} documents={[]} />);
    const select = await screen.findByRole("combobox", { name: "Question set to run" }, { timeout: 10_000 });
    expect(screen.queryByRole("option", { name: /Empty/ })).not.toBeInTheDocument(); // no version yet
    expect(screen.getByRole("button", { name: "Run the questions" })).toBeDisabled(); // nothing saved
    await userEvent.selectOptions(select, DATASET_ID);
    await userEvent.click(screen.getByRole("button", { name: "Run the questions" }));
    await waitFor(() => expect(requests.some((r) => r.method === "POST")).toBe(true));
    const sent = requests.find((r) => r.method === "POST")?.body as Record<string, unknown>;
    expect(sent).toMatchObject({ dataset: DATASET_ID, modes: ["vector", "keyword", "hybrid"] });
    expect(sent).not.toHaveProperty("questions");
    expect(await screen.findByText("when is the flood tide")).toBeInTheDocument();
    expect(screen.getAllByText("0.750").length).toBeGreaterThan(0); // MRR per mode
  }, 30_000);
});
