import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { routes } from "../router";
import { fakeBackend, FakeWebSocket, makeMe, ORG_A, renderRoutes, setCookies } from "../test/utils";

const signedOut = { status: 403, body: { code: "not_authenticated", message: "Not signed in." } };

beforeEach(() => {
  vi.stubGlobal("WebSocket", FakeWebSocket);
  setCookies({ csrftoken: "tok" });
});
afterEach(() => setCookies({ csrftoken: null }));

describe("LoginPage", () => {
  it("shows the server's message in an alert when sign-in fails", async () => {
    fakeBackend({
      "GET /api/v1/auth/me/": signedOut,
      "POST /api/v1/auth/login/": {
        status: 400,
        body: { code: "invalid_credentials", message: "Invalid username or password." },
      },
    });
    const user = userEvent.setup();
    renderRoutes(routes, "/login");
    await user.type(await screen.findByLabelText("Username"), "alice");
    await user.type(screen.getByLabelText("Password"), "wrong");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    expect(await screen.findByRole("alert")).toHaveTextContent("Invalid username or password.");
  });

  it("signs in with CSRF and goes to the first organization", async () => {
    let signedIn = false;
    const { requests } = fakeBackend({
      "GET /api/v1/auth/me/": () => (signedIn ? { status: 200, body: makeMe() } : signedOut),
      "POST /api/v1/auth/login/": () => {
        signedIn = true;
        return { status: 200, body: makeMe() };
      },
    });
    const user = userEvent.setup();
    const { router } = renderRoutes(routes, "/login");
    await user.type(await screen.findByLabelText("Username"), "alice");
    await user.type(screen.getByLabelText("Password"), "s3cret");
    await user.click(screen.getByRole("button", { name: "Sign in" }));

    await waitFor(() => expect(router.state.location.pathname).toBe(`/o/${ORG_A}/flows`));
    const login = requests.find((r) => r.path === "/api/v1/auth/login/");
    expect(login?.body).toEqual({ username: "alice", password: "s3cret" });
    expect(login?.headers.get("X-CSRFToken")).toBe("tok");
    expect(await screen.findByRole("heading", { name: "Flows" })).toBeInTheDocument();
  });

  it("returns to the page named in ?next= after signing in", async () => {
    fakeBackend({
      "GET /api/v1/auth/me/": signedOut,
      "POST /api/v1/auth/login/": { status: 200, body: makeMe() },
      [`GET /api/v1/orgs/${ORG_A}/`]: {
        status: 200,
        body: { id: ORG_A, name: "Acme", slug: "acme", role: "owner", created_at: "2026-01-01T00:00:00Z" },
      },
    });
    const user = userEvent.setup();
    const next = `/o/${ORG_A}/settings/organization`;
    const { router } = renderRoutes(routes, `/login?next=${encodeURIComponent(next)}`);
    await user.type(await screen.findByLabelText("Username"), "alice");
    await user.type(screen.getByLabelText("Password"), "s3cret");
    await user.click(screen.getByRole("button", { name: "Sign in" }));
    await waitFor(() => expect(router.state.location.pathname).toBe(next));
  });
});
