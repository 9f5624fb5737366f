import { screen, waitFor, within } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { fakeBackend, ORG_A, renderWithClient, setCookies } from "../test/utils";
import type { Endpoint } from "./api";
import { EndpointDialog } from "./EndpointDialog";

const MODELS = `/api/v1/orgs/${ORG_A}/models/`;

const stored: Endpoint = {
  id: 4,
  alias: "gpt",
  name: "gpt",
  kind: "chat",
  base_url: "https://api.openai.com/v1",
  model: "gpt-4o-mini",
  has_api_key: true,
  supports_tools: true,
  supports_json_mode: false,
  supports_vision: false,
  context_window: 128000,
  price_input_per_1k: "0.000150",
  price_output_per_1k: "0.000600",
  connect_timeout_s: 5,
  first_token_timeout_s: 60,
  idle_timeout_s: 30,
  deployment: null,
  fallbacks: ["local"],
  max_retries: 1,
  is_builtin: false,
  created_at: "2026-03-01T10:00:00Z",
  updated_at: "2026-03-01T10:00:00Z",
};

beforeEach(() => setCookies({ csrftoken: "tok" }));
afterEach(() => setCookies({ csrftoken: null }));

describe("EndpointDialog", () => {
  it("adds a model picked from the server's list, with its context window and the key write-only", async () => {
    const { requests } = fakeBackend({
      [`POST ${MODELS}discover/`]: {
        status: 200,
        body: { models: [{ id: "mistral-small-latest", context_window: 32768 }, { id: "mistral-large", context_window: null }] },
      },
      [`POST ${MODELS}`]: { status: 201, body: { ...stored, id: 9 } },
    });
    const user = userEvent.setup();
    renderWithClient(<EndpointDialog orgId={ORG_A} aliases={["local"]} onClose={() => undefined} />);
    const dialog = screen.getByRole("dialog", { name: "Add model" });
    await user.selectOptions(within(dialog).getByLabelText("Provider"), "mistral");
    expect(within(dialog).getByLabelText("Base URL")).toHaveValue("https://api.mistral.ai/v1");
    await user.type(within(dialog).getByLabelText("API key"), "sk-secret");
    await user.click(within(dialog).getByRole("button", { name: "Fetch models" }));
    await waitFor(() => expect(within(dialog).getByText("2 models on this server.")).toBeInTheDocument());
    expect(requests.at(-1)?.body).toEqual({ base_url: "https://api.mistral.ai/v1", api_key: "sk-secret" });
    await user.type(within(dialog).getByLabelText("Model"), "mistral-small-latest");
    expect(within(dialog).getByLabelText("Alias")).toHaveValue("mistral-small-latest");
    expect(within(dialog).getByLabelText("Context window (tokens)")).toHaveValue(32768);
    await user.selectOptions(within(dialog).getByLabelText("Add a fallback"), "local");
    await user.click(within(dialog).getByRole("button", { name: "Add model" }));
    await waitFor(() => expect(requests.at(-1)?.method).toBe("POST"));
    const body = requests.at(-1)?.body as Record<string, unknown>;
    expect(body).toMatchObject({
      alias: "mistral-small-latest",
      base_url: "https://api.mistral.ai/v1",
      model: "mistral-small-latest",
      api_key: "sk-secret",
      context_window: 32768,
      fallbacks: ["local"],
      supports_tools: true,
    });
  }, 30_000);

  it("asks for the key again, or an explicit clear, when the URL of an endpoint with a key changes", async () => {
    const { requests } = fakeBackend({ [`PATCH ${MODELS}4/`]: { status: 200, body: stored } });
    const user = userEvent.setup();
    renderWithClient(<EndpointDialog orgId={ORG_A} endpoint={stored} aliases={["gpt", "local"]} onClose={() => undefined} />);
    const dialog = screen.getByRole("dialog", { name: "Edit gpt" });
    const save = within(dialog).getByRole("button", { name: "Save" });
    expect(save).toBeEnabled();
    const url = within(dialog).getByLabelText("Base URL");
    await user.clear(url);
    await user.type(url, "https://api.groq.com/openai/v1");
    expect(within(dialog).getByRole("alert")).toHaveTextContent("enter the API key for the new server, or clear");
    expect(save).toBeDisabled();
    await user.click(within(dialog).getByLabelText("Clear the stored key"));
    expect(save).toBeEnabled();
    await user.click(save);
    await waitFor(() => expect(requests).toHaveLength(1));
    expect(requests[0]?.body).toMatchObject({ base_url: "https://api.groq.com/openai/v1", api_key: "" });
  }, 30_000);

  it("keeps the stored key when nothing is typed and the URL stays, and orders fallbacks", async () => {
    const { requests } = fakeBackend({ [`PATCH ${MODELS}4/`]: { status: 200, body: stored } });
    const user = userEvent.setup();
    renderWithClient(
      <EndpointDialog orgId={ORG_A} endpoint={{ ...stored, fallbacks: ["local", "b"] }} aliases={["gpt", "local", "b"]} onClose={() => undefined} />,
    );
    const dialog = screen.getByRole("dialog", { name: "Edit gpt" });
    await user.click(within(dialog).getByRole("button", { name: "Move b up" }));
    await user.click(within(dialog).getByRole("button", { name: "Save" }));
    await waitFor(() => expect(requests).toHaveLength(1));
    const body = requests[0]?.body as Record<string, unknown>;
    expect(body.fallbacks).toEqual(["b", "local"]);
    expect("api_key" in body).toBe(false);
  }, 30_000);
});
