import { screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { routes } from "../router";
import { fakeBackend, FakeWebSocket, makeMe, ORG_A, renderRoutes, setCookies } from "../test/utils";

const DATASET = "44444444-4444-4444-8444-444444444444";

beforeEach(() => {
  vi.stubGlobal("WebSocket", FakeWebSocket);
  setCookies({ csrftoken: "tok" });
});
afterEach(() => {
  setCookies({ csrftoken: null });
  vi.restoreAllMocks();
});

function backend() {
  return fakeBackend({
    "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
    [`GET /api/v1/orgs/${ORG_A}/datasets/`]: {
      status: 200,
      body: [{ id: DATASET, name: "Golden", latest_version: 1, item_count: 0, created_at: "2026-12-05T00:00:00Z" }],
    },
    [`GET /api/v1/orgs/${ORG_A}/datasets/${DATASET}/items/`]: { status: 200, body: { version: 1, items: [] } },
  });
}

describe("EvaluationPage", () => {
  it("sits in the page frame like every other page", async () => {
    backend();
    renderRoutes(routes, `/o/${ORG_A}/evaluation`);
    const heading = await screen.findByRole("heading", { level: 1, name: "Evaluation" });
    // Without it the title and the cards touched the sidebar and the window's edge.
    expect(heading.closest(".page")).not.toBeNull();
  });

  it("opens the file chooser for an upload from the keyboard", async () => {
    backend();
    const user = userEvent.setup();
    const opened = vi.spyOn(HTMLInputElement.prototype, "click");
    renderRoutes(routes, `/o/${ORG_A}/evaluation`);
    await user.click(await screen.findByRole("button", { name: /Golden/ }));
    // A label around a hidden input (as it was) is not focusable: a keyboard never reached it.
    const upload = await screen.findByRole("button", { name: "Upload CSV/JSONL" });
    upload.focus();
    await user.keyboard("{Enter}");
    expect(opened).toHaveBeenCalledTimes(1);
    expect(opened.mock.contexts[0]).toBe(screen.getByLabelText("Upload CSV or JSONL"));
  });

  it("shows an evaluation's cost as money, not as a raw decimal", async () => {
    fakeBackend({
      "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
      [`GET /api/v1/orgs/${ORG_A}/datasets/`]: { status: 200, body: [] },
      [`GET /api/v1/orgs/${ORG_A}/flows/`]: { status: 200, body: [] },
      [`GET /api/v1/orgs/${ORG_A}/evaluations/`]: {
        status: 200,
        body: [
          {
            id: "55555555-5555-4555-8555-555555555555",
            name: "",
            flow_name: "Support",
            target: "v1",
            dataset_name: "Golden",
            dataset_version_number: 3,
            status: "completed",
            total: 4,
            done: 4,
            failed: 0,
            cost: "0.123400",
            estimated_cost: "0.000000",
          },
        ],
      },
    });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/evaluation`);
    await user.click(await screen.findByRole("tab", { name: "Evaluations" }));
    // It read "0.123400 (0.000000)".
    expect(await screen.findByText("$0.12 ($0)")).toBeInTheDocument();
    expect(screen.queryByText(/0\.123400/)).toBeNull();
  });

  it("says what a gate is, and that a flow without one publishes unchecked", async () => {
    const FLOW = "66666666-6666-4666-8666-666666666666";
    fakeBackend({
      "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
      [`GET /api/v1/orgs/${ORG_A}/datasets/`]: { status: 200, body: [] },
      [`GET /api/v1/orgs/${ORG_A}/flows/`]: { status: 200, body: { next: null, results: [{ id: FLOW, name: "Support" }] } },
      [`GET /api/v1/orgs/${ORG_A}/flows/${FLOW}/gate/`]: { status: 200, body: { gate: null, latest: null, draft_revision: 1 } },
    });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/evaluation`);
    await user.click(await screen.findByRole("tab", { name: "Gates" }));
    // The tab was a bare "Flow…" select with no word on what a gate does.
    expect(await screen.findByText(/the bar a flow's draft must clear before it is published/)).toBeInTheDocument();
    await user.selectOptions(await screen.findByRole("combobox", { name: "Gate flow" }), FLOW);
    expect(await screen.findByText("This flow has no gate: it publishes without an evaluation.")).toBeInTheDocument();
  });

  it("labels the version box in words on the page, not only in a tooltip", async () => {
    fakeBackend({
      "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
      [`GET /api/v1/orgs/${ORG_A}/datasets/`]: { status: 200, body: [] },
      [`GET /api/v1/orgs/${ORG_A}/flows/`]: { status: 200, body: { next: null, results: [] } },
      [`GET /api/v1/orgs/${ORG_A}/evaluations/`]: { status: 200, body: [] },
    });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/evaluation`);
    await user.click(await screen.findByRole("tab", { name: "Evaluations" }));
    // A bare box reading "published" sat between the flow and the dataset, its meaning in a title only.
    const version = await screen.findByRole("textbox", { name: "Version" });
    expect(version).toHaveValue("published");
    expect(version.closest("label")).toHaveTextContent(/^Version/);
  });
});

