import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeBackend, ORG_A, renderRoutes } from "../test/utils";
import { Dashboard } from "./Dashboard";

const FLOW = "11111111-1111-4111-8111-111111111111";
const V2 = "22222222-2222-4222-8222-222222222222";
const version = (id: string, number: number, note: string) => ({
  id,
  number,
  note,
  published: number === 2,
  created_by: null,
  created_at: "2026-12-05T00:00:00Z",
});

function statsQueries(fetchMock: ReturnType<typeof fakeBackend>["fetchMock"]): URLSearchParams[] {
  return fetchMock.mock.calls
    .map(([input]) => new URL(input instanceof Request ? input.url : String(input), window.location.origin))
    .filter((url) => url.pathname.endsWith("/runs/stats/"))
    .map((url) => url.searchParams);
}

describe("Dashboard version filter", () => {
  it("offers the chosen flow's versions and asks the figures of the one chosen", async () => {
    const { fetchMock } = fakeBackend({
      // The figures themselves are not this test's concern: an error answer keeps the page light.
      [`GET /api/v1/orgs/${ORG_A}/runs/stats/`]: { status: 400, body: { code: "x", message: "Not now." } },
      [`GET /api/v1/orgs/${ORG_A}/flows/${FLOW}/versions/`]: {
        status: 200,
        body: [version(V2, 2, "tone"), version("33333333-3333-4333-8333-333333333333", 1, "")],
      },
    });
    const user = userEvent.setup();
    const page = { path: "/runs", element: <Dashboard orgId={ORG_A} flows={[{ id: FLOW, name: "Support" }]} /> };
    const { router } = renderRoutes([page], "/runs?view=dashboard");
    const form = screen.getByRole("form", { name: "Dashboard range" });
    expect(within(form).queryByLabelText("Version")).toBeNull(); // no flow chosen: no version select
    await user.selectOptions(within(form).getByLabelText("Flow"), FLOW);
    const select = await within(form).findByLabelText("Version");
    await waitFor(() => expect(within(select).getByRole("option", { name: "v2 — tone" })).toBeInTheDocument());
    await user.selectOptions(select, V2);
    await waitFor(() => expect(statsQueries(fetchMock).some((q) => q.get("version") === V2)).toBe(true));
    const asked = statsQueries(fetchMock).find((q) => q.get("version") === V2)!;
    expect(asked.get("flow")).toBe(FLOW);
    // Kept in the URL (a reload or a shared link shows the same figures), beside the page's own keys.
    const kept = new URLSearchParams(router.state.location.search);
    expect([kept.get("view"), kept.get("dflow"), kept.get("dversion")]).toEqual(["dashboard", FLOW, V2]);
    // Back to all flows: the version is dropped with the flow.
    await user.selectOptions(within(form).getByLabelText("Flow"), "");
    expect(within(form).queryByLabelText("Version")).toBeNull();
    expect(new URLSearchParams(router.state.location.search).get("dversion")).toBeNull();
    await waitFor(() => {
      const last = statsQueries(fetchMock).at(-1)!;
      expect(last.get("flow")).toBeNull();
      expect(last.get("version")).toBeNull();
    });
  });
});

describe("Dashboard filters from the URL", () => {
  it("opens a shared link at its flow and version", async () => {
    const { fetchMock } = fakeBackend({
      [`GET /api/v1/orgs/${ORG_A}/runs/stats/`]: { status: 400, body: { code: "x", message: "Not now." } },
      [`GET /api/v1/orgs/${ORG_A}/flows/${FLOW}/versions/`]: { status: 200, body: [version(V2, 2, "")] },
    });
    const page = { path: "/runs", element: <Dashboard orgId={ORG_A} flows={[{ id: FLOW, name: "Support" }]} /> };
    renderRoutes([page], `/runs?view=dashboard&ddays=30&dflow=${FLOW}&dversion=${V2}`);
    const select = await screen.findByLabelText("Version");
    await waitFor(() => expect(select).toHaveValue(V2)); // once its flow's versions are listed
    await waitFor(() => expect(statsQueries(fetchMock).length).toBeGreaterThan(0));
    const asked = statsQueries(fetchMock)[0]!;
    expect([asked.get("days"), asked.get("flow"), asked.get("version")]).toEqual(["30", FLOW, V2]);
  });
});
