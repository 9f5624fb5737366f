import { fireEvent, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { MeOrganization } from "../api/types";
import { ApiError } from "../lib/errors";
import { CurrentOrgContext } from "../shell/session";
import { fakeBackend, makeMe, ORG_A, renderRoutes, setCookies } from "../test/utils";
import { GateOverride } from "./GateOverride";

const FLOW = "33333333-3333-4333-8333-333333333333";
const PUBLISH = `POST /api/v1/orgs/${ORG_A}/flows/${FLOW}/versions/`;
const refused = new ApiError(409, "gate_failed", "The draft did not pass this flow's evaluation gate: see the report.");

function renderOverride(role: MeOrganization["role"], refusal: unknown, onPublished = vi.fn()) {
  const org = { ...makeMe().organizations[0]!, id: ORG_A, role };
  renderRoutes(
    [
      {
        path: "/",
        element: (
          <CurrentOrgContext.Provider value={org}>
            <GateOverride flowId={FLOW} note="v2" refusal={refusal} onPublished={onPublished} />
          </CurrentOrgContext.Provider>
        ),
      },
    ],
    "/",
  );
  return onPublished;
}

beforeEach(() => setCookies({ csrftoken: "tok" }));
afterEach(() => setCookies({ csrftoken: null }));

describe("GateOverride", () => {
  it("lets an admin publish past a failed gate with a reason", async () => {
    const backend = fakeBackend({ [PUBLISH]: { status: 201, body: { number: 4 } } });
    const onPublished = renderOverride("admin", refused);
    await userEvent.click(screen.getByRole("button", { name: "Publish past the gate…" }));
    const dialog = screen.getByRole("dialog", { name: "Publish past the evaluation gate" });
    const submit = screen.getByRole("button", { name: "Publish anyway" });
    expect(submit).toBeDisabled(); // no reason yet
    fireEvent.change(screen.getByLabelText("Why is the gate overridden?"), { target: { value: "hotfix for the outage" } });
    await userEvent.click(submit);
    await waitFor(() => expect(onPublished).toHaveBeenCalledWith({ number: 4 }));
    expect(backend.requests).toHaveLength(1);
    expect(backend.requests[0]!.body).toEqual({ note: "v2", override_reason: "hotfix for the outage" });
    expect(dialog).not.toBeInTheDocument();
  }, 20_000);

  it("shows the server's refusal of the override inside the dialog", async () => {
    fakeBackend({
      [PUBLISH]: { status: 403, body: { code: "gate_override_forbidden", message: "Only an admin can publish past a failed evaluation gate." } },
    });
    const onPublished = renderOverride("owner", refused);
    await userEvent.click(screen.getByRole("button", { name: "Publish past the gate…" }));
    fireEvent.change(screen.getByLabelText("Why is the gate overridden?"), { target: { value: "because we must" } });
    await userEvent.click(screen.getByRole("button", { name: "Publish anyway" }));
    expect(await screen.findByText("Only an admin can publish past a failed evaluation gate.")).toBeInTheDocument();
    expect(onPublished).not.toHaveBeenCalled();
  }, 20_000);

  it("offers no override to an editor, and nothing for other errors", () => {
    renderOverride("editor", refused);
    expect(screen.getByTestId("gate-refusal")).toHaveTextContent("Only an admin can publish past a failed gate.");
    expect(screen.queryByRole("button", { name: "Publish past the gate…" })).toBeNull();
  });

  it("renders nothing for a refusal that is not the gate's", () => {
    renderOverride("admin", new ApiError(400, "flow_invalid", "The flow has problems."));
    expect(screen.queryByTestId("gate-refusal")).toBeNull();
  });
});
