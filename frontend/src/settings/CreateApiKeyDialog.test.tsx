import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { useState } from "react";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeBackend, ORG_A, renderWithClient, setCookies } from "../test/utils";
import { CreateApiKeyDialog } from "./CreateApiKeyDialog";

const SECRET = "trl_live_3f9a0c2e_s3cr3t-only-once";

const createdKey = {
  id: 7,
  name: "CI pipeline",
  role: "editor",
  prefix: "trl_3f9a",
  created_at: "2026-03-01T10:00:00Z",
  created_by: "alice",
  last_used_at: null,
  revoked_at: null,
  key: SECRET,
};

/** The page's part: a button that opens the dialog, as ApiKeysSettings does. */
function Harness() {
  const [open, setOpen] = useState(false);
  return (
    <>
      <button type="button" onClick={() => setOpen(true)}>
        Create API key
      </button>
      {open ? <CreateApiKeyDialog orgId={ORG_A} roles={["admin", "editor", "viewer"]} onClose={() => setOpen(false)} /> : null}
    </>
  );
}

beforeEach(() => setCookies({ csrftoken: "tok" }));
afterEach(() => setCookies({ csrftoken: null }));

describe("CreateApiKeyDialog", () => {
  it("narrows a key to runs and gives it an expiry when asked", async () => {
    const { requests } = fakeBackend({
      [`POST /api/v1/orgs/${ORG_A}/api-keys/`]: { status: 201, body: createdKey },
      [`GET /api/v1/orgs/${ORG_A}/api-keys/`]: { status: 200, body: [] },
    });
    const user = userEvent.setup();
    renderWithClient(<Harness />);
    await user.click(screen.getByRole("button", { name: "Create API key" }));
    const dialog = screen.getByRole("dialog", { name: "Create API key" });
    await user.type(within(dialog).getByLabelText("Name"), "runner");
    await user.selectOptions(within(dialog).getByLabelText("Scope"), "runs");
    await user.selectOptions(within(dialog).getByLabelText("Expires"), "30");
    await user.click(within(dialog).getByRole("button", { name: "Create" }));
    await screen.findByTestId("new-api-key");
    const body = requests.find((r) => r.method === "POST")?.body as Record<string, string>;
    expect(body.scope).toBe("runs");
    const days = (Date.parse(body.expires_at ?? "") - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(29.9);
    expect(days).toBeLessThan(30.1);
  });

  it("posts name and role, then shows the full key once with a copy button and a warning", async () => {
    const { requests } = fakeBackend({
      [`POST /api/v1/orgs/${ORG_A}/api-keys/`]: { status: 201, body: createdKey },
      [`GET /api/v1/orgs/${ORG_A}/api-keys/`]: { status: 200, body: [] },
    });
    const user = userEvent.setup();
    renderWithClient(<Harness />);

    await user.click(screen.getByRole("button", { name: "Create API key" }));
    const dialog = screen.getByRole("dialog", { name: "Create API key" });
    await user.type(within(dialog).getByLabelText("Name"), "CI pipeline");
    await user.selectOptions(within(dialog).getByLabelText("Role"), "viewer");
    await user.click(within(dialog).getByRole("button", { name: "Create" }));

    const key = await screen.findByTestId("new-api-key");
    expect(key).toHaveTextContent(SECRET);
    expect(requests.find((r) => r.method === "POST")?.body).toEqual({ name: "CI pipeline", role: "viewer" });
    const revealed = screen.getByRole("dialog", { name: "API key created" });
    expect(within(revealed).getByRole("button", { name: /Copy/ })).toBeInTheDocument();
    expect(within(revealed).getByText(/will not be shown again/i)).toBeInTheDocument();
  });

  it("forgets the key when closed: reopening shows an empty form and no secret", async () => {
    fakeBackend({
      [`POST /api/v1/orgs/${ORG_A}/api-keys/`]: { status: 201, body: createdKey },
      [`GET /api/v1/orgs/${ORG_A}/api-keys/`]: { status: 200, body: [] },
    });
    const user = userEvent.setup();
    const { queryClient } = renderWithClient(<Harness />);

    await user.click(screen.getByRole("button", { name: "Create API key" }));
    await user.type(screen.getByLabelText("Name"), "CI pipeline");
    await user.click(screen.getByRole("button", { name: "Create" }));
    await screen.findByTestId("new-api-key");

    await user.click(screen.getByRole("button", { name: "Done" }));
    expect(screen.queryByRole("dialog")).not.toBeInTheDocument();
    expect(screen.queryByTestId("new-api-key")).not.toBeInTheDocument();
    expect(document.body.textContent).not.toContain(SECRET);

    await user.click(screen.getByRole("button", { name: "Create API key" }));
    expect(screen.getByRole("dialog", { name: "Create API key" })).toBeInTheDocument();
    expect(screen.getByLabelText("Name")).toHaveValue("");
    expect(screen.queryByTestId("new-api-key")).not.toBeInTheDocument();

    // Nothing in the query cache holds the secret either.
    const cached = JSON.stringify(queryClient.getQueryCache().getAll().map((query) => query.state.data));
    expect(cached).not.toContain(SECRET);
  });

  it("shows the server message and field errors when creation fails", async () => {
    fakeBackend({
      [`POST /api/v1/orgs/${ORG_A}/api-keys/`]: {
        status: 400,
        body: { code: "invalid", message: "name: This field may not be blank.", fields: { name: ["This field may not be blank."] } },
      },
    });
    const user = userEvent.setup();
    renderWithClient(<Harness />);
    await user.click(screen.getByRole("button", { name: "Create API key" }));
    await user.click(screen.getByRole("button", { name: "Create" }));

    expect(await screen.findByRole("alert")).toHaveTextContent("name: This field may not be blank.");
    expect(screen.getByText("This field may not be blank.")).toBeInTheDocument();
    expect(screen.queryByTestId("new-api-key")).not.toBeInTheDocument();
  });

  it("closes with Escape before anything is created", async () => {
    fakeBackend({});
    const user = userEvent.setup();
    renderWithClient(<Harness />);
    await user.click(screen.getByRole("button", { name: "Create API key" }));
    await user.keyboard("{Escape}");
    await waitFor(() => expect(screen.queryByRole("dialog")).not.toBeInTheDocument());
  });
});
