import { screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeBackend, ORG_A, renderRoutes } from "../test/utils";
import { Alerts } from "./Alerts";

const RULE = "77777777-7777-4777-8777-777777777777";
const rule = {
  id: RULE,
  name: "Errors",
  metric: "error_rate",
  threshold: 5,
  window_minutes: 5,
  flow: null,
  webhook_url: "",
  state: "ok",
  last_value: null,
  last_evaluated_at: null,
  created_at: "2026-12-05T00:00:00Z",
};

describe("Alerts", () => {
  it("opens a rule's history and its delete from the keyboard", async () => {
    const { requests } = fakeBackend({
      [`GET /api/v1/orgs/${ORG_A}/alerts/`]: { status: 200, body: [rule] },
      [`GET /api/v1/orgs/${ORG_A}/alerts/${RULE}/events/`]: { status: 200, body: [] },
      [`DELETE /api/v1/orgs/${ORG_A}/alerts/${RULE}/`]: { status: 204 },
    });
    const user = userEvent.setup();
    renderRoutes([{ path: "/runs", element: <Alerts orgId={ORG_A} flows={[]} canEdit /> }], "/runs");
    const row = (await screen.findByText("Errors")).closest("tr");
    expect(row).not.toBeNull();
    // The row opened on a mouse click only: a keyboard never reached the history or "Delete rule".
    row!.focus();
    expect(row).toHaveFocus();
    expect(row).toHaveAttribute("aria-expanded", "false");
    await user.keyboard("{Enter}");
    expect(row).toHaveAttribute("aria-expanded", "true");
    expect(await screen.findByText("It has not fired yet.")).toBeInTheDocument();
    await user.click(screen.getByRole("button", { name: "Delete rule" }));
    await waitFor(() => expect(requests.some((r) => r.method === "DELETE")).toBe(true));
  });
});
