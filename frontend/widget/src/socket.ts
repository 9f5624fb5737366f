/** One socket that reconnects with backoff and queues messages while it is down. */

import type { ServerEvent } from "./protocol";

const FATAL_CLOSE = new Set([4403, 4404]);

export class WidgetSocket {
  private ws: WebSocket | null = null;
  private queue: string[] = [];
  private attempts = 0;
  private stopped = false;
  private timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly url: string,
    private readonly onEvent: (event: ServerEvent) => void,
    private readonly onOpen: (reconnected: boolean) => void,
    private readonly onDown: (fatal: boolean) => void,
  ) {}

  send(message: object): void {
    const text = JSON.stringify(message);
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.send(text);
    else {
      this.queue.push(text);
      this.connect();
    }
  }

  connect(): void {
    if (this.stopped || this.timer !== null) return;
    if (this.ws && this.ws.readyState <= WebSocket.OPEN) return;
    const reconnect = this.attempts > 0;
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempts = 0;
      this.onOpen(reconnect);
      for (const text of this.queue.splice(0)) ws.send(text);
    };
    ws.onmessage = (message) => {
      try {
        this.onEvent(JSON.parse(String(message.data)) as ServerEvent);
      } catch {
        /* not JSON: ignore */
      }
    };
    ws.onclose = (close) => {
      this.ws = null;
      const fatal = FATAL_CLOSE.has(close.code);
      this.onDown(fatal);
      if (fatal) {
        this.stopped = true;
        return;
      }
      this.attempts += 1;
      const delay = Math.min(10_000, 500 * 2 ** Math.min(this.attempts, 5));
      this.timer = setTimeout(() => {
        this.timer = null;
        this.connect();
      }, delay);
    };
  }

  /** Reconnect now (the browser came back online). */
  retryNow(): void {
    if (this.timer !== null) {
      clearTimeout(this.timer);
      this.timer = null;
    }
    this.connect();
  }
}
