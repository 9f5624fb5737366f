import { QueryClientProvider } from "@tanstack/react-query";
import { render, screen } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { describe, expect, it } from "vitest";
import { fakeBackend, ORG_A, testQueryClient } from "../test/utils";
import { ConversationList } from "./Conversations";
import type { ConversationFilters } from "./conversationsApi";

describe("ConversationList", () => {
  it("shows 'Only thumbs-down' ticked at once, before the URL's filters come back, and follows them after", async () => {
    fakeBackend({
      [`GET /api/v1/orgs/${ORG_A}/widgets/`]: { status: 200, body: [] },
      [`GET /api/v1/orgs/${ORG_A}/conversations/`]: { status: 200, body: { results: [], next: null } },
    });
    const asked: ConversationFilters[] = [];
    const user = userEvent.setup();
    // The page's filters come from the URL; React Router applies the change in a transition,
    // so for a while the list is rendered with the old filters. Here they never come back.
    const client = testQueryClient();
    const list = (filters: ConversationFilters) => (
      <QueryClientProvider client={client}>
        <ConversationList orgId={ORG_A} filters={filters} flows={[]} onFilters={(f) => asked.push(f)} onOpen={() => {}} />
      </QueryClientProvider>
    );
    const view = render(list({}));
    const box = screen.getByLabelText("Only thumbs-down");
    expect(box).not.toBeChecked();
    await user.click(box);
    expect(box).toBeChecked();
    expect(asked).toEqual([{ thumbs_down: true }]);
    // A change from elsewhere (back button, a shared link) wins.
    view.rerender(list({ thumbs_down: true }));
    view.rerender(list({}));
    expect(screen.getByLabelText("Only thumbs-down")).not.toBeChecked();
  });
});
