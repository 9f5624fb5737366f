import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { routes } from "../router";
import { fakeBackend, FakeWebSocket, makeMe, ORG_A, ORG_B, renderRoutes, setCookies } from "../test/utils";

const members = [
  { id: 1, user: { id: 1, username: "alice", email: "alice@example.com" }, role: "owner", created_at: "2026-01-01T00:00:00Z" },
  { id: 2, user: { id: 2, username: "bob", email: "bob@example.com" }, role: "editor", created_at: "2026-01-05T00:00:00Z" },
];

beforeEach(() => {
  vi.stubGlobal("WebSocket", FakeWebSocket);
  setCookies({ csrftoken: "tok" });
});
afterEach(() => setCookies({ csrftoken: null }));

function backend(extra: Parameters<typeof fakeBackend>[0] = {}) {
  return fakeBackend({
    "GET /api/v1/auth/me/": { status: 200, body: makeMe() },
    [`GET /api/v1/orgs/${ORG_A}/members/`]: { status: 200, body: members },
    [`GET /api/v1/orgs/${ORG_A}/invitations/`]: { status: 200, body: [] },
    [`GET /api/v1/orgs/${ORG_B}/members/`]: { status: 200, body: members },
    ...extra,
  });
}

describe("MembersSettings", () => {
  it("lists members with username, email, role and join date", async () => {
    backend();
    renderRoutes(routes, `/o/${ORG_A}/settings/members`);
    const row = (await screen.findByText("bob")).closest("tr")!;
    expect(row).toHaveTextContent("bob@example.com");
    expect(within(row).getByRole("combobox", { name: "Access level of bob" })).toHaveValue("editor");
    expect(screen.getByRole("heading", { name: "Pending invitations" })).toBeInTheDocument();
  });

  it("shows the server's message when a role change is refused", async () => {
    backend({
      [`PATCH /api/v1/orgs/${ORG_A}/members/2/`]: {
        status: 403,
        body: { code: "permission_denied", message: "Only an owner can make someone an owner." },
      },
    });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/settings/members`);
    await user.selectOptions(await screen.findByRole("combobox", { name: "Access level of bob" }), "owner");
    expect(await screen.findByRole("alert")).toHaveTextContent("Only an owner can make someone an owner.");
    await waitFor(() => expect(screen.getByRole("combobox", { name: "Access level of bob" })).toHaveValue("editor"));
  });

  it("removes a member only after confirmation", async () => {
    const { requests } = backend({ [`DELETE /api/v1/orgs/${ORG_A}/members/2/`]: { status: 204 } });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/settings/members`);
    await user.click(await screen.findByRole("button", { name: "Remove bob" }));
    const dialog = screen.getByRole("dialog", { name: "Remove member" });
    expect(requests.some((r) => r.method === "DELETE")).toBe(false);
    await user.click(within(dialog).getByRole("button", { name: "Remove" }));
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
    expect(requests.filter((r) => r.method === "DELETE").map((r) => r.path)).toEqual([
      `/api/v1/orgs/${ORG_A}/members/2/`,
    ]);
  });

  it("adds by email through an invitation, whose link is shown once", async () => {
    const { requests } = backend({
      [`POST /api/v1/orgs/${ORG_A}/members/`]: {
        status: 201,
        body: {
          id: 9,
          email: "carol@example.com",
          role: "viewer",
          created_at: "2026-01-01T00:00:00Z",
          expires_at: "2026-01-08T00:00:00Z",
          accepted_at: null,
          token: "tok-abc",
          accept_url: "http://localhost:3000/invite?token=tok-abc",
        },
      },
    });
    const user = userEvent.setup();
    renderRoutes(routes, `/o/${ORG_A}/settings/members`);
    await user.click(await screen.findByRole("button", { name: "Add member" }));
    const dialog = screen.getByRole("dialog", { name: "Add member" });
    await user.type(within(dialog).getByLabelText("Email"), "carol@example.com");
    await user.selectOptions(within(dialog).getByLabelText("Role"), "viewer");
    await user.click(within(dialog).getByRole("button", { name: "Create invitation" }));

    expect(await screen.findByTestId("invite-link")).toHaveTextContent("http://localhost:3000/invite?token=tok-abc");
    expect(requests.find((r) => r.path.endsWith("/members/") && r.method === "POST")?.body).toEqual({
      email: "carol@example.com",
      role: "viewer",
    });
    await user.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByTestId("invite-link")).not.toBeInTheDocument();
  });

  it("hides management controls from a viewer", async () => {
    backend();
    renderRoutes(routes, `/o/${ORG_B}/settings/members`);
    expect(await screen.findByText("bob")).toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Add member" })).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: "Invite" })).not.toBeInTheDocument();
    expect(screen.queryByRole("combobox")).not.toBeInTheDocument();
    expect(screen.queryByRole("button", { name: /Remove/ })).not.toBeInTheDocument();
  });
});
