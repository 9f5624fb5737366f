import { render, screen, waitFor } from "@testing-library/react";
import userEvent from "@testing-library/user-event";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { ORG_A, setCookies } from "../test/utils";
import { readEvents } from "./api";
import { TestPrompt } from "./TestPrompt";

const STREAM_PATH = `/api/v1/orgs/${ORG_A}/models/7/test/stream/`;
const encoder = new TextEncoder();

interface Call {
  url: string;
  init: RequestInit;
}

/** fetch answering with a server-sent-event body the test writes piece by piece. */
function streamingBackend() {
  const calls: Call[] = [];
  let push: (text: string) => void = () => undefined;
  let end: () => void = () => undefined;
  const fetchMock = vi.fn(async (input: RequestInfo | URL, init?: RequestInit) => {
    calls.push({ url: String(input), init: init ?? {} });
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        push = (text) => controller.enqueue(encoder.encode(text));
        end = () => controller.close();
        init?.signal?.addEventListener("abort", () =>
          controller.error(Object.assign(new Error("The operation was aborted."), { name: "AbortError" })),
        );
      },
    });
    return new Response(body, { status: 200, headers: { "Content-Type": "text/event-stream" } });
  });
  vi.stubGlobal("fetch", fetchMock);
  return { calls, push: (text: string) => push(text), end: () => end() };
}

const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

function renderBox() {
  render(<TestPrompt orgId={ORG_A} endpoints={[{ id: 7, alias: "local" }]} />);
}

beforeEach(() => setCookies({ csrftoken: "tok" }));
afterEach(() => setCookies({ csrftoken: null }));

describe("TestPrompt", () => {
  it("renders tokens as they arrive, then usage and timings", async () => {
    const backend = streamingBackend();
    renderBox();
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    await waitFor(() => expect(backend.calls).toHaveLength(1));
    const { url, init } = backend.calls[0]!;
    expect(new URL(url).pathname).toBe(STREAM_PATH);
    expect(init.method).toBe("POST");
    expect((init.headers as Record<string, string>)["X-CSRFToken"]).toBe("tok");
    expect((init.headers as Record<string, string>).Accept).toBe("text/event-stream");
    expect(JSON.parse(String(init.body))).toEqual({ prompt: "Say hello.", max_tokens: 64 });

    const answer = await screen.findByTestId("test-answer");
    expect(screen.getByRole("button", { name: "Send" })).toBeDisabled();
    expect(screen.getByRole("button", { name: "Stop" })).toBeEnabled();
    backend.push(sse("token", { text: "Hel" }));
    await waitFor(() => expect(answer).toHaveTextContent(/^Hel$/));
    // An event split across network chunks is put back together.
    const second = sse("token", { text: "lo!" });
    backend.push(second.slice(0, 9));
    backend.push(second.slice(9));
    await waitFor(() => expect(answer).toHaveTextContent(/^Hello!$/));
    backend.push(
      sse("done", { text: "Hello!", input_tokens: 3, output_tokens: 2, latency_ms: 120.5, ttft_ms: 40.2 }),
    );
    backend.end();
    await waitFor(() => expect(answer).toHaveTextContent("3 in / 2 out tokens in 120.5 ms, first token after 40.2 ms"));
    expect(answer).toHaveTextContent(/^Hello!/);
    expect(screen.queryByRole("button", { name: "Stop" })).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Send" })).toBeEnabled();
  });

  it("stops the stream with the Stop button and keeps what arrived", async () => {
    const backend = streamingBackend();
    renderBox();
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    backend.push(sse("token", { text: "Once upon" }));
    const answer = await screen.findByTestId("test-answer");
    await waitFor(() => expect(answer).toHaveTextContent("Once upon"));
    await userEvent.click(screen.getByRole("button", { name: "Stop" }));
    await waitFor(() => expect(answer).toHaveTextContent("Once upon — stopped"));
    expect((backend.calls[0]!.init.signal as AbortSignal).aborted).toBe(true);
    expect(screen.queryByRole("alert")).not.toBeInTheDocument();
    expect(screen.getByRole("button", { name: "Send" })).toBeEnabled();
  });

  it("shows an error event clearly, after the partial answer", async () => {
    const backend = streamingBackend();
    renderBox();
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    backend.push(sse("token", { text: "Hi" }));
    backend.push(sse("error", { code: "model_timeout", message: "The model sent nothing for 30 s." }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("The model took too long to answer");
    expect(alert).toHaveTextContent("The model sent nothing for 30 s.");
    expect(screen.getByTestId("test-answer")).toHaveTextContent(/^Hi$/);
  });

  it("shows a refusal before the stream (the server's JSON error)", async () => {
    vi.stubGlobal(
      "fetch",
      vi.fn(
        async () =>
          new Response(JSON.stringify({ code: "model_unavailable", message: "The server of model 'local' cannot be reached." }), {
            status: 502,
            headers: { "Content-Type": "application/json" },
          }),
      ),
    );
    renderBox();
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    const alert = await screen.findByRole("alert");
    expect(alert).toHaveTextContent("The model cannot be reached");
    expect(alert).toHaveTextContent("The server of model 'local' cannot be reached.");
    // No empty answer box above the error: nothing was answered.
    expect(screen.queryByTestId("test-answer")).toBeNull();
  });

  it("says so when the stream ends without a result", async () => {
    const backend = streamingBackend();
    renderBox();
    await userEvent.click(screen.getByRole("button", { name: "Send" }));
    backend.push(sse("token", { text: "Hal" }));
    backend.end();
    expect(await screen.findByRole("alert")).toHaveTextContent("The answer was cut off");
  });
});

describe("readEvents", () => {
  it("parses CRLF frames, multi-line data and skips comments", async () => {
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(encoder.encode(": keep-alive\r\n\r\nevent: token\r\ndata: a\r\ndata: b\r\n\r\ndata: x\n\n"));
        controller.close();
      },
    });
    const events = [];
    for await (const event of readEvents(body)) events.push(event);
    expect(events).toEqual([
      { event: "token", data: "a\nb" },
      { event: "message", data: "x" },
    ]);
  });
});
