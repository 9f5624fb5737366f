import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { describe, expect, it, vi } from "vitest";
import { fakeBackend, ORG_A, renderRoutes } from "../test/utils";
import type { KnowledgeBase } from "../knowledge/api";
import type { JsonSchema } from "./schema";
import { SchemaForm } from "./SchemaForm";

const KB_PATH = `GET /api/v1/orgs/${ORG_A}/knowledge-bases/`;
const GUIDE = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa";
const FAQ = "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb";
const GONE = "cccccccc-cccc-4ccc-8ccc-cccccccccccc";

/** The retrieve node's config schema as the catalog serves it (pydantic's JSON Schema). */
const retrieveSchema: JsonSchema = {
  type: "object",
  properties: {
    knowledge_base: { type: "string", format: "knowledge-base", title: "Knowledge Base" },
    top_k: { type: "integer", default: 4, minimum: 1, maximum: 50, title: "Top K" },
  },
  required: ["knowledge_base"],
};

function kb(id: string, name: string, counts: Partial<KnowledgeBase> = {}): KnowledgeBase {
  return {
    id,
    name,
    description: "",
    embedding_model: "local",
    chunk_strategy: "sentence",
    chunk_size: 256,
    chunk_overlap: 32,
    settings_version: 1,
    document_count: 0,
    ready_count: 0,
    failed_count: 0,
    active_count: 0,
    created_at: "2026-11-01T00:00:00Z",
    updated_at: "2026-11-01T00:00:00Z",
    ...counts,
  } as KnowledgeBase;
}

function renderForm(initial: Record<string, unknown> = {}, readOnly = false) {
  const changes = vi.fn();
  function Harness() {
    const [value, setValue] = useState(initial);
    return (
      <SchemaForm
        schema={retrieveSchema}
        value={value}
        onChange={(next) => {
          changes(next);
          setValue(next);
        }}
        serverErrors={{}}
        context={{ models: [], tools: [], orgId: ORG_A, upstream: [], readOnly }}
      />
    );
  }
  const view = renderRoutes(
    [
      { path: "/", element: <Harness /> },
      { path: "/o/:orgId/knowledge", element: <p>Knowledge page</p> },
    ],
    "/",
  );
  return { ...view, changes };
}

describe("KnowledgeBasePicker", () => {
  it("lists the organization's knowledge bases with their documents and stores the chosen id", async () => {
    const { requests } = fakeBackend({
      [KB_PATH]: {
        status: 200,
        body: [
          kb(GUIDE, "Field guide", { document_count: 3, ready_count: 2, failed_count: 1 }),
          kb(FAQ, "FAQ", { document_count: 1, ready_count: 1 }),
        ],
      },
    });
    const { changes } = renderForm();
    const select = screen.getByLabelText(/Knowledge Base/);
    expect(await screen.findByRole("option", { name: "Field guide (3 documents · 1 failed)" })).toBeInTheDocument();
    expect(screen.getByRole("option", { name: "FAQ (1 document)" })).toBeInTheDocument();
    expect(screen.getByText("Required.")).toBeInTheDocument();

    await userEvent.selectOptions(select, GUIDE);
    expect(changes).toHaveBeenLastCalledWith({ knowledge_base: GUIDE });
    expect(select).toHaveValue(GUIDE);
    expect(screen.queryByText("Required.")).not.toBeInTheDocument();
    expect(requests.filter((r) => r.path === `/api/v1/orgs/${ORG_A}/knowledge-bases/`)).toHaveLength(1);
  });

  it("says when a base has nothing ready to retrieve from", async () => {
    fakeBackend({ [KB_PATH]: { status: 200, body: [kb(GUIDE, "Field guide")] } });
    renderForm({ knowledge_base: GUIDE });
    expect(await screen.findByTestId("kb-not-ready")).toHaveTextContent("no documents yet");
  });

  it("shows an empty state that links to the Knowledge page", async () => {
    fakeBackend({ [KB_PATH]: { status: 200, body: [] } });
    const { router } = renderForm();
    const empty = await screen.findByTestId("kb-empty");
    expect(empty).toHaveTextContent("No knowledge bases yet — create one on the Knowledge page");
    expect(screen.getByLabelText(/Knowledge Base/)).toBeDisabled();
    const link = screen.getByRole("link", { name: "Knowledge page" });
    expect(link).toHaveAttribute("href", `/o/${ORG_A}/knowledge`);
    await userEvent.click(link);
    expect(router.state.location.pathname).toBe(`/o/${ORG_A}/knowledge`);
  });

  it("shows an id that is no longer in the list as deleted, without changing it", async () => {
    fakeBackend({ [KB_PATH]: { status: 200, body: [kb(FAQ, "FAQ", { document_count: 1, ready_count: 1 })] } });
    const { changes } = renderForm({ knowledge_base: GONE });
    expect(await screen.findByTestId("kb-missing")).toHaveTextContent(`Knowledge base ${GONE} no longer exists`);
    const select = screen.getByLabelText(/Knowledge Base/);
    expect(select).toHaveValue(GONE);
    expect(screen.getByRole("option", { name: /^Deleted knowledge base/ })).toBeInTheDocument();
    expect(changes).not.toHaveBeenCalled();

    await userEvent.selectOptions(select, FAQ);
    expect(changes).toHaveBeenLastCalledWith({ knowledge_base: FAQ });
    expect(screen.queryByTestId("kb-missing")).not.toBeInTheDocument();
  });

  it("shows the server's error and retries", async () => {
    let fail = true;
    fakeBackend({
      [KB_PATH]: () =>
        fail
          ? { status: 500, body: { code: "server_error", message: "Database is down." } }
          : { status: 200, body: [kb(FAQ, "FAQ", { document_count: 1, ready_count: 1 })] },
    });
    renderForm({ knowledge_base: FAQ });
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("Could not load knowledge bases: Database is down.");
    // The stored id stays visible (not reported as deleted) while the list is unknown.
    expect(screen.getByLabelText(/Knowledge Base/)).toHaveValue(FAQ);
    expect(screen.queryByTestId("kb-missing")).not.toBeInTheDocument();

    fail = false;
    await userEvent.click(screen.getByRole("button", { name: "Try again" }));
    await waitFor(() => expect(screen.queryByRole("alert")).not.toBeInTheDocument());
    expect(screen.getByRole("option", { name: "FAQ (1 document)" })).toBeInTheDocument();
    expect(screen.getByLabelText(/Knowledge Base/)).toHaveValue(FAQ);
  });

  it("is disabled in a read-only editor", async () => {
    fakeBackend({ [KB_PATH]: { status: 200, body: [kb(FAQ, "FAQ", { document_count: 1, ready_count: 1 })] } });
    renderForm({ knowledge_base: FAQ }, true);
    await screen.findByRole("option", { name: "FAQ (1 document)" });
    expect(screen.getByLabelText(/Knowledge Base/)).toBeDisabled();
  });
});
