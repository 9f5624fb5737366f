import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { FakeWebSocket } from "../test/utils";
import { backoffDelay, ReconnectingSocket, socketUrl, type SocketStatus } from "./socket";

describe("backoffDelay", () => {
  it("doubles per attempt between half and all of the ceiling, capped", () => {
    expect(backoffDelay(0, { random: () => 0 })).toBe(250);
    expect(backoffDelay(0, { random: () => 1 })).toBe(500);
    expect(backoffDelay(3, { random: () => 1 })).toBe(4000);
    expect(backoffDelay(30, { random: () => 1 })).toBe(30_000);
  });
});

describe("socketUrl", () => {
  it("uses wss on https and ws on http, same host", () => {
    expect(socketUrl({ protocol: "https:", host: "t.example" })).toBe("wss://t.example/ws/");
    expect(socketUrl({ protocol: "http:", host: "localhost:8000" })).toBe("ws://localhost:8000/ws/");
  });
});

describe("ReconnectingSocket", () => {
  let statuses: SocketStatus[];
  let socket: ReconnectingSocket;

  beforeEach(() => {
    vi.useFakeTimers();
    vi.stubGlobal("WebSocket", FakeWebSocket);
    FakeWebSocket.instances = [];
    statuses = [];
    socket = new ReconnectingSocket({
      url: "ws://test/ws/",
      onStatus: (status) => statuses.push(status),
      pingIntervalMs: 1000,
      pongTimeoutMs: 500,
      backoff: { baseMs: 100, maxMs: 1000, random: () => 1 },
    });
  });

  afterEach(() => {
    socket.stop();
    vi.useRealTimers();
  });

  const latest = () => FakeWebSocket.instances[FakeWebSocket.instances.length - 1]!;

  it("reports connected, then reconnecting with growing delays after drops", () => {
    socket.start();
    latest().serverOpen();
    expect(statuses).toEqual(["connecting", "connected"]);

    latest().serverClose(1006);
    expect(statuses.at(-1)).toBe("reconnecting");
    vi.advanceTimersByTime(99);
    expect(FakeWebSocket.instances).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(FakeWebSocket.instances).toHaveLength(2);

    latest().serverClose(1006); // fails again before opening: next wait is doubled
    vi.advanceTimersByTime(199);
    expect(FakeWebSocket.instances).toHaveLength(2);
    vi.advanceTimersByTime(1);
    expect(FakeWebSocket.instances).toHaveLength(3);

    latest().serverOpen();
    expect(statuses.at(-1)).toBe("connected");
  });

  it("pings, and treats a missing pong as a dead connection", () => {
    socket.start();
    const first = latest();
    first.serverOpen();
    vi.advanceTimersByTime(1000);
    expect(first.sent).toEqual([JSON.stringify({ type: "ping" })]);
    first.serverSend({ type: "pong" });
    vi.advanceTimersByTime(600);
    expect(statuses.at(-1)).toBe("connected");

    vi.advanceTimersByTime(400); // second ping, no pong this time
    vi.advanceTimersByTime(500);
    expect(statuses.at(-1)).toBe("reconnecting");
    vi.advanceTimersByTime(100);
    expect(FakeWebSocket.instances).toHaveLength(2);
  });

  it("tells the app when the server refuses the socket for lack of a session", () => {
    const onUnauthenticated = vi.fn();
    socket = new ReconnectingSocket({ url: "ws://test/ws/", onUnauthenticated });
    socket.start();
    latest().serverOpen();
    latest().serverClose(4401);
    expect(onUnauthenticated).toHaveBeenCalledOnce();
  });

  it("stops for good", () => {
    socket.start();
    latest().serverOpen();
    socket.stop();
    expect(statuses.at(-1)).toBe("closed");
    vi.advanceTimersByTime(60_000);
    expect(FakeWebSocket.instances).toHaveLength(1);
  });
});
