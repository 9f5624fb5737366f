import { screen } from "@testing-library/react";
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
