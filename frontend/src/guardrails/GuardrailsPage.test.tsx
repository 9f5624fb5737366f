import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { routes } from "../router";
import { fakeBackend, FakeWebSocket, makeMe, ORG_A, renderRoutes, setCookies } from "../test/utils";

const defaults = {
  pii: { enabled: true, action: "redact", entities: ["EMAIL"], threshold: 0.5 },
  injection: { enabled: true, action: "block", threshold: 0.5 },
  content: { enabled: false, action: "block", categories: [], words: [], patterns: [] },
  output: { enabled: false, action: "block" },
  block_message: "Sorry, I can't help with that request.",
  dry_run: false,
  redact_before_storing: true,
  reversible: false,
};

const hit = {
  id: 1,
  run_id: "33333333-3333-4333-8333-333333333333",
  policy: null,
  stage: "input",
  source: "user",
  check: "pii",
  label: "CREDIT_CARD",
  action: "redact",
  intended: "",
  score: 1,
  start: 11,
  end: 30,
  created_at: "2026-12-05T00:00:00Z",
};

beforeEach(() => {
  vi.stubGlobal("WebSocket", FakeWebSocket);
  setCookies({ csrftoken: "tok" });
});
afterEach(() => setCookies({ csrftoken: null }));

function backend(extra: Parameters<typeof fakeBackend>[0] = {}) {
  return fakeBackend({
    "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
    [`GET /api/v1/orgs/${ORG_A}/guard-policies/`]: { status: 200, body: [] },
    [`GET /api/v1/orgs/${ORG_A}/guard-policies/defaults/`]: { status: 200, body: defaults },
    [`GET /api/v1/orgs/${ORG_A}/guard-hits/`]: { status: 200, body: [hit] },
    ...extra,
  });
}

describe("GuardrailsPage", () => {
  it("sits in the page frame like every other page", async () => {
    backend();
    renderRoutes(routes, `/o/${ORG_A}/guardrails`);
    const heading = await screen.findByRole("heading", { level: 1, name: "Guardrails" });
    // Without it the title and the policy card touched the sidebar and the window's edge.
    expect(heading.closest(".page")).not.toBeNull();
  });

  it("names each check's action select after its check", async () => {
    backend();
    renderRoutes(routes, `/o/${ORG_A}/guardrails`);
    // Five selects were all named "Action": a screen reader could not tell them apart.
    expect(await screen.findByRole("combobox", { name: "Personal data: action" })).toHaveValue("redact");
    expect(screen.getByRole("combobox", { name: "Prompt injection: action" })).toHaveValue("block");
    expect(screen.queryAllByRole("combobox", { name: "Action" })).toHaveLength(0);
  });

  it("saves the organization's policy from the defaults with the changes made", async () => {
    const { requests } = backend({
      [`POST /api/v1/orgs/${ORG_A}/guard-policies/`]: (request) => ({
        status: 200,
        body: { id: "p1", widget: null, enabled: true, config: request.body, created_at: "", updated_at: "" },
      }),
    });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/guardrails`);
    expect(await screen.findByText("CREDIT_CARD")).toBeInTheDocument();
    await user.click(await screen.findByRole("checkbox", { name: "Dry run (record only)" }));
    await user.click(screen.getByRole("button", { name: "Save policy" }));
    await waitFor(() => expect(requests.some((r) => r.method === "POST")).toBe(true));
    const body = requests.find((r) => r.method === "POST")!.body as { config: typeof defaults; enabled: boolean };
    expect(body.enabled).toBe(true);
    expect(body.config.dry_run).toBe(true);
    expect(body.config.pii.action).toBe("redact");
  });

  it("turns on the classifier, moderation through an alias, answer checks and reversible redaction", async () => {
    const { requests } = backend({
      [`POST /api/v1/orgs/${ORG_A}/guard-policies/`]: (request) => ({
        status: 200,
        body: { id: "p1", widget: null, enabled: true, config: request.body, created_at: "", updated_at: "" },
      }),
    });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/guardrails`);
    await user.click(await screen.findByRole("checkbox", { name: /Also ask the classifier model/ }));
    await user.click(screen.getByRole("checkbox", { name: "Moderation by a model" }));
    await user.type(screen.getByRole("textbox", { name: "Model alias" }), "judge");
    await user.selectOptions(screen.getByRole("combobox", { name: "Asked through" }), "moderations");
    await user.click(screen.getByRole("checkbox", { name: /Answer checks/ }));
    expect(screen.getByText(/shown once it is complete/)).toBeInTheDocument();
    await user.type(screen.getByRole("textbox", { name: /Links allowed to/ }), "example.com, *.shop.example");
    await user.click(screen.getByRole("checkbox", { name: /Show visitors their own values/ }));
    await user.click(screen.getByRole("button", { name: "Save policy" }));
    await waitFor(() => expect(requests.some((r) => r.method === "POST")).toBe(true));
    const { config } = requests.find((r) => r.method === "POST")!.body as { config: Record<string, any> };
    expect(config.injection.classifier).toBe(true);
    expect(config.moderation).toMatchObject({ enabled: true, model: "judge", mode: "moderations" });
    expect(config.output).toMatchObject({ enabled: true, allowed_links: ["example.com", "*.shop.example"] });
    expect(config.reversible).toBe(true);
  }, 30_000);

  it("tries a text against the policy and shows what it would do", async () => {
    backend({
      [`POST /api/v1/orgs/${ORG_A}/guard-policies/test/`]: {
        status: 200,
        body: {
          action: "block",
          text: "x",
          message: "Sorry, I can't help with that request.",
          hits: [{ check: "injection", label: "override", action: "block", score: 0.9, start: 0, end: 10, source: "user" }],
        },
      },
    });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/guardrails`);
    await user.click(await screen.findByRole("button", { name: "Check" }));
    const verdict = await screen.findByLabelText("Verdict");
    expect(verdict).toHaveTextContent("block");
    expect(verdict).toHaveTextContent("injection / override: block");
  });
});
