import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { routes } from "../router";
import { fakeBackend, FakeWebSocket, makeMe, ORG_A, ORG_B, renderRoutes, setCookies } from "../test/utils";

beforeEach(() => {
  FakeWebSocket.instances = [];
  vi.stubGlobal("WebSocket", FakeWebSocket);
  setCookies({ csrftoken: "tok" });
});
afterEach(() => setCookies({ csrftoken: null }));

describe("routing", () => {
  it("sends / to the first organization's flows", async () => {
    fakeBackend({
      "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
      [`GET /api/v1/orgs/${ORG_A}/flows/`]: { status: 200, body: { count: 0, next: null, previous: null, results: [] } },
    });
    const { router } = renderRoutes(routes, "/");
    expect(await screen.findByRole("heading", { name: "Flows" })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe(`/o/${ORG_A}/flows`);
    // The flows page loads its list: the empty state follows the heading.
    expect(await screen.findByText("No flows yet")).toBeInTheDocument();
  });

  it("sends a visitor without a session to /login, remembering the page", async () => {
    fakeBackend({
      "GET /api/v1/auth/me/": { status: 403, body: { code: "not_authenticated", message: "Not signed in." } },
    });
    const { router } = renderRoutes(routes, `/o/${ORG_A}/settings/members`);
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe("/login");
    expect(router.state.location.search).toBe(`?next=${encodeURIComponent(`/o/${ORG_A}/settings/members`)}`);
  });

  it("shows every main section in the Main navigation", async () => {
    fakeBackend({ "GET /api/v1/auth/me/": { status: 200, body: makeMe() } });
    renderRoutes(routes, `/o/${ORG_A}/runs`);
    const nav = await screen.findByRole("navigation", { name: "Main" });
    const names = within(nav).getAllByRole("link").map((link) => link.textContent);
    expect(names).toEqual([
      "Flows",
      "Knowledge",
      "Models",
      "Widgets",
      "Integrations",
      "Runs",
      "Guardrails",
      "Evaluation",
      "Settings",
    ]);
    expect(within(nav).getByRole("link", { name: "Runs" })).toHaveAttribute("aria-current", "page");
  });

  it("signs out with POST /auth/logout/ and lands on /login without ?next=", async () => {
    let signedIn = true;
    const { requests } = fakeBackend({
      "GET /api/v1/auth/me/": () =>
        signedIn ? { status: 200, body: makeMe() } : { status: 403, body: { code: "not_authenticated", message: "x" } },
      "POST /api/v1/auth/logout/": () => {
        signedIn = false;
        return { status: 204 };
      },
    });
    const user = userEvent.setup();
    const { router } = renderRoutes(routes, `/o/${ORG_A}/knowledge`);
    await user.click(await screen.findByRole("button", { name: "Sign out" }));
    expect(await screen.findByRole("button", { name: "Sign in" })).toBeInTheDocument();
    expect(router.state.location.pathname).toBe("/login");
    expect(router.state.location.search).toBe("");
    expect(requests.some((r) => r.method === "POST" && r.path === "/api/v1/auth/logout/")).toBe(true);
  });

  it("says so when the organization in the URL is not one of the user's", async () => {
    fakeBackend({ "GET /api/v1/auth/me/": { status: 200, body: makeMe() } });
    renderRoutes(routes, "/o/not-mine/flows");
    expect(await screen.findByText("Organization not found")).toBeInTheDocument();
  });
});

describe("OrgSwitcher", () => {
  it("shows the current organization and lists all of them with roles", async () => {
    fakeBackend({ "GET /api/v1/auth/me/": { status: 200, body: makeMe() } });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/flows`);
    const button = await screen.findByRole("button", { name: "Organization" });
    expect(button).toHaveTextContent("Acme");
    expect(button).toHaveAttribute("aria-expanded", "false");

    await user.click(button);
    const menu = screen.getByRole("menu");
    const items = within(menu).getAllByRole("menuitem");
    expect(items).toHaveLength(3);
    expect(items[0]).toHaveTextContent(/Acme.*Owner/);
    expect(items[1]).toHaveTextContent(/Globex.*Viewer/);
    expect(items[2]).toHaveTextContent("New organization");
    expect(items[0]).toHaveAttribute("aria-current", "true");
  });

  it("switches organization and keeps the page", async () => {
    const emptyLog = { status: 200, body: { count: 0, next: null, previous: null, results: [] } };
    fakeBackend({
      "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
      [`GET /api/v1/orgs/${ORG_A}/audit-events/`]: emptyLog,
      [`GET /api/v1/orgs/${ORG_B}/audit-events/`]: emptyLog,
    });
    const user = userEvent.setup();
    const { router } = renderRoutes(routes, `/o/${ORG_A}/settings/audit`);
    await user.click(await screen.findByRole("button", { name: "Organization" }));
    await user.click(screen.getByRole("menuitem", { name: /Globex/ }));
    expect(router.state.location.pathname).toBe(`/o/${ORG_B}/settings/audit`);
    expect(screen.getByRole("button", { name: "Organization" })).toHaveTextContent("Globex");
    expect(screen.queryByRole("menu")).not.toBeInTheDocument();
  });

  it("creates an organization with POST /api/v1/orgs/ and opens it", async () => {
    const created = { id: "33333333-3333-4333-8333-333333333333", name: "Initech", slug: "initech", role: "owner" as const, created_at: "2026-02-01T00:00:00Z" };
    let orgs = makeMe().organizations;
    const { requests } = fakeBackend({
      "GET /api/v1/auth/me/": () => ({ status: 200, body: makeMe({ organizations: orgs }) }),
      "POST /api/v1/orgs/": () => {
        orgs = [...orgs, created];
        return { status: 201, body: created };
      },
      [`GET /api/v1/orgs/${ORG_A}/flows/`]: { status: 200, body: { count: 0, next: null, previous: null, results: [] } },
      [`GET /api/v1/orgs/${created.id}/flows/`]: { status: 200, body: { count: 0, next: null, previous: null, results: [] } },
    });
    const user = userEvent.setup();
    const { router } = renderRoutes(routes, `/o/${ORG_A}/flows`);
    await user.click(await screen.findByRole("button", { name: "Organization" }));
    await user.click(screen.getByRole("menuitem", { name: "New organization" }));

    const dialog = screen.getByRole("dialog", { name: "New organization" });
    await user.type(within(dialog).getByLabelText("Name"), "Initech");
    await user.click(within(dialog).getByRole("button", { name: "Create" }));

    await waitFor(() => expect(router.state.location.pathname).toBe(`/o/${created.id}/flows`));
    expect(requests.find((r) => r.method === "POST")?.body).toEqual({ name: "Initech" });
    await waitFor(() => expect(screen.getByRole("button", { name: "Organization" })).toHaveTextContent("Initech"));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
  });

  it("shows the server's message when creating fails", async () => {
    fakeBackend({
      "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
      "POST /api/v1/orgs/": {
        status: 400,
        body: { code: "invalid", message: "name: Too long.", fields: { name: ["Too long."] } },
      },
    });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/flows`);
    await user.click(await screen.findByRole("button", { name: "Organization" }));
    await user.click(screen.getByRole("menuitem", { name: "New organization" }));
    const dialog = screen.getByRole("dialog", { name: "New organization" });
    await user.type(within(dialog).getByLabelText("Name"), "x");
    await user.click(within(dialog).getByRole("button", { name: "Create" }));
    expect(await within(dialog).findByRole("alert")).toHaveTextContent("name: Too long.");
    expect(within(dialog).getByText("Too long.")).toBeInTheDocument();
    expect(within(dialog).getByLabelText("Name")).toHaveAttribute("aria-invalid", "true");
  });
});
