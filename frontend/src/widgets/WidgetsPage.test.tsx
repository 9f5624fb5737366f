import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { routes } from "../router";
import { fakeBackend, FakeWebSocket, makeMe, ORG_A, renderRoutes, setCookies } from "../test/utils";

const WIDGET = "11111111-1111-4111-8111-111111111111";
const FLOW = "22222222-2222-4222-8222-222222222222";

const widget = {
  id: WIDGET,
  name: "Support bubble",
  flow: FLOW,
  flow_name: "Support bot",
  pinned_version: null,
  published_version: 3,
  public_key: "wpk_abc",
  enabled: true,
  allowed_origins: ["https://shop.example.com"],
  hosted_page: true,
  appearance: {
    title: "Help",
    greeting: "Hi!",
    suggestions: ["Hours?"],
    primary_color: "#4f46e5",
    avatar_url: "",
    position: "right",
    theme: "light",
  },
  conversation_memory: true,
  show_sources: true,
  collect_feedback: true,
  max_input_chars: 2000,
  visitor_messages_per_minute: 10,
  ip_messages_per_minute: 30,
  tokens_per_day: 200000,
  created_at: "2026-11-01T00:00:00Z",
  updated_at: "2026-11-01T00:00:00Z",
};

const analytics = {
  days: [{ day: "2026-11-21", conversations: 2, messages: 5, failed: 0, input_tokens: 100, output_tokens: 50, cost: "0.010000", thumbs_up: 1, thumbs_down: 1 }],
  totals: { conversations: 2, messages: 5, failed: 0, input_tokens: 100, output_tokens: 50, cost: "0.010000", thumbs_up: 1, thumbs_down: 1 },
};

beforeEach(() => {
  vi.stubGlobal("WebSocket", FakeWebSocket);
  setCookies({ csrftoken: "tok" });
});
afterEach(() => setCookies({ csrftoken: null }));

function backend(extra: Parameters<typeof fakeBackend>[0] = {}) {
  return fakeBackend({
    "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
    [`GET /api/v1/orgs/${ORG_A}/widgets/`]: { status: 200, body: [widget] },
    [`GET /api/v1/orgs/${ORG_A}/flows/`]: {
      status: 200,
      body: { count: 1, next: null, previous: null, results: [{ id: FLOW, name: "Support bot", published_version: 3 }] },
    },
    [`GET /api/v1/orgs/${ORG_A}/widgets/${WIDGET}/analytics/`]: { status: 200, body: analytics },
    ...extra,
  });
}

describe("WidgetsPage", () => {
  it("shows the embed snippet, a live preview of the hosted chat and the analytics", async () => {
    backend();
    renderRoutes(routes, `/o/${ORG_A}/widgets`);
    const snippet = await screen.findByLabelText("Embed snippet");
    expect(snippet).toHaveTextContent(
      `<script src="${window.location.origin}/widget.js" data-key="wpk_abc" async></script>`,
    );
    expect(screen.getByTitle("Widget preview")).toHaveAttribute("src", `${window.location.origin}/w/wpk_abc/`);
    const messages = (await screen.findByText("Messages")).closest("div")!;
    expect(within(messages).getByText("5")).toBeInTheDocument();
  });

  it("saves allowed origins one per line and shows the server's field errors", async () => {
    const { requests } = backend({
      [`PATCH /api/v1/orgs/${ORG_A}/widgets/${WIDGET}/`]: {
        status: 400,
        body: { code: "invalid_origin", message: "'nope' is not an origin", fields: { allowed_origins: ["Not an origin."] } },
      },
    });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/widgets`);
    const origins = await screen.findByRole("textbox", { name: "Allowed websites" });
    await user.clear(origins);
    await user.type(origins, "https://a.example.com{enter}nope");
    await user.click(screen.getByRole("button", { name: "Save" }));
    await waitFor(() => expect(requests.some((r) => r.method === "PATCH")).toBe(true));
    const patch = requests.find((r) => r.method === "PATCH")!;
    expect((patch.body as { allowed_origins: string[] }).allowed_origins).toEqual(["https://a.example.com", "nope"]);
    expect(await screen.findByRole("alert")).toHaveTextContent("'nope' is not an origin");
  });
});
