import { screen, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { routes } from "../router";
import { fakeBackend, FakeWebSocket, makeMe, ORG_A, ORG_B, renderRoutes, setCookies } from "../test/utils";

const endpoint = {
  id: 1,
  alias: "support",
  name: "Support model",
  kind: "chat",
  provider: "openai",
  base_url: "https://api.example.test/v1",
  model: "m",
  capabilities: { chat: true },
  has_api_key: false,
  is_builtin: false,
  fallbacks: [],
  price_input_per_1k: "0",
  price_output_per_1k: "0",
};

beforeEach(() => {
  vi.stubGlobal("WebSocket", FakeWebSocket);
  setCookies({ csrftoken: "tok" });
});
afterEach(() => setCookies({ csrftoken: null }));

function backend(org: string) {
  return fakeBackend({
    "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
    [`GET /api/v1/orgs/${org}/models/`]: { status: 200, body: [endpoint] },
    [`GET /api/v1/orgs/${org}/models/stats/`]: { status: 200, body: [] },
  });
}

describe("ModelsPage for people who are not admins", () => {
  it("does not promise a viewer a test it cannot run", async () => {
    backend(ORG_B); // makeMe(): a viewer of ORG_B
    renderRoutes(routes, `/o/${ORG_B}/models`);
    expect(await screen.findByText("support")).toBeInTheDocument();
    expect(screen.getByText(/you can read them\.$/)).toBeInTheDocument();
    expect(screen.queryByText(/you can read them and test them/)).toBeNull();
    expect(screen.queryByRole("button", { name: "Test support" })).toBeNull();
    expect(screen.queryByRole("region", { name: "Test prompt" })).toBeNull();
  });

  it("tells an editor they can test, and offers the test", async () => {
    fakeBackend({
      "GET /api/v1/auth/me/": {
        status: 200,
        body: makeMe({ organizations: [{ id: ORG_A, name: "Acme", slug: "acme", role: "editor", created_at: "2026-01-01T00:00:00Z" }] }),
      },
      [`GET /api/v1/orgs/${ORG_A}/models/`]: { status: 200, body: [endpoint] },
      [`GET /api/v1/orgs/${ORG_A}/models/stats/`]: { status: 200, body: [] },
    });
    renderRoutes(routes, `/o/${ORG_A}/models`);
    expect(await screen.findByText(/you can read them and test them/)).toBeInTheDocument();
    expect(await screen.findByRole("button", { name: "Test support" })).toBeInTheDocument();
  });
});

describe("ModelsPage usage limits", () => {
  it("puts a refused limit's message under its input, in words", async () => {
    fakeBackend({
      "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
      [`GET /api/v1/orgs/${ORG_A}/models/`]: { status: 200, body: [endpoint] },
      [`GET /api/v1/orgs/${ORG_A}/models/stats/`]: { status: 200, body: [] },
      [`GET /api/v1/orgs/${ORG_A}/model-quota/`]: {
        status: 200,
        body: { monthly_token_budget: null, monthly_cost_budget: null, requests_per_minute: null, used_this_month: 0, spent_this_month: "0" },
      },
      [`PUT /api/v1/orgs/${ORG_A}/model-quota/`]: {
        status: 400,
        body: {
          code: "invalid",
          message: "monthly_cost_budget: Ensure this value is greater than or equal to 0.",
          fields: { monthly_cost_budget: ["Ensure this value is greater than or equal to 0."] },
        },
      },
    });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/models`);
    await user.click(await screen.findByRole("tab", { name: "Usage" }));
    await user.click(await screen.findByRole("button", { name: "Edit limits" }));
    const money = screen.getAllByLabelText("Monthly budget (money)")[0]!;
    await user.type(money, "-3");
    await user.click(screen.getByRole("button", { name: "Save limits" }));
    // It read "monthly_cost_budget: Ensure ..." in a banner above the form, the API's field name first.
    expect(await screen.findByText("Ensure this value is greater than or equal to 0.")).toBeInTheDocument();
    expect(money).toHaveAttribute("aria-invalid", "true");
    expect(money).toHaveAccessibleDescription(expect.stringContaining("Ensure this value is greater than or equal to 0."));
    expect(screen.queryByText(/monthly_cost_budget/)).toBeNull();
    expect(within(money.closest("form")!).queryByRole("alert")).toBeNull();
  });
});

