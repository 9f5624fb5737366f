/**
 * One WebSocket per tab to /ws/, kept alive with ping/pong and reopened with exponential
 * backoff. No React here: the shell subscribes to status changes.
 */

export type SocketStatus = "connecting" | "connected" | "reconnecting" | "closed";

export interface BackoffOptions {
  baseMs?: number;
  maxMs?: number;
  random?: () => number;
}

/** Full-jitter-ish exponential backoff: half fixed, half random, capped. */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const { baseMs = 500, maxMs = 30_000, random = Math.random } = options;
  const ceiling = Math.min(maxMs, baseMs * 2 ** Math.max(0, attempt));
  return Math.round(ceiling / 2 + (ceiling / 2) * random());
}

export function socketUrl(location: Pick<Location, "protocol" | "host">, path = "/ws/"): string {
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  return `${scheme}//${location.host}${path}`;
}

/** The server closes with this code when the socket has no session. */
export const CLOSE_NOT_AUTHENTICATED = 4401;

export interface ServerMessage {
  type: string;
  [key: string]: unknown;
}

export interface ReconnectingSocketOptions {
  url: string;
  onStatus?: (status: SocketStatus) => void;
  onMessage?: (message: ServerMessage) => void;
  /** Called when the server refuses the socket for lack of a session. */
  onUnauthenticated?: () => void;
  createSocket?: (url: string) => WebSocket;
  pingIntervalMs?: number;
  pongTimeoutMs?: number;
  backoff?: BackoffOptions;
}

export class ReconnectingSocket {
  private socket: WebSocket | undefined;
  private attempt = 0;
  private stopped = true;
  private status: SocketStatus = "closed";
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private pingTimer: ReturnType<typeof setInterval> | undefined;
  private pongTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly options: Required<
    Pick<ReconnectingSocketOptions, "pingIntervalMs" | "pongTimeoutMs" | "createSocket">
  > &
    ReconnectingSocketOptions;

  constructor(options: ReconnectingSocketOptions) {
    this.options = {
      pingIntervalMs: 25_000,
      pongTimeoutMs: 10_000,
      createSocket: (url) => new WebSocket(url),
      ...options,
    };
  }

  get currentStatus(): SocketStatus {
    return this.status;
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.attempt = 0;
    this.open("connecting");
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const socket = this.socket;
    this.socket = undefined;
    if (socket) {
      socket.onopen = socket.onclose = socket.onmessage = socket.onerror = null;
      if (socket.readyState === WebSocket.OPEN || socket.readyState === WebSocket.CONNECTING) {
        socket.close(1000);
      }
    }
    this.setStatus("closed");
  }

  /** Skips the remaining backoff (e.g. the browser came back online). */
  reconnectNow(): void {
    if (this.stopped || this.status === "connected") return;
    clearTimeout(this.reconnectTimer);
    this.open("reconnecting");
  }

  send(message: Record<string, unknown>): boolean {
    if (this.socket?.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(message));
    return true;
  }

  private setStatus(status: SocketStatus): void {
    if (status === this.status) return;
    this.status = status;
    this.options.onStatus?.(status);
  }

  private open(status: SocketStatus): void {
    this.setStatus(status);
    let socket: WebSocket;
    try {
      socket = this.options.createSocket(this.options.url);
    } catch {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    socket.onopen = () => {
      this.attempt = 0;
      this.setStatus("connected");
      this.startHeartbeat();
    };
    socket.onmessage = (event: MessageEvent) => this.handleMessage(event);
    socket.onclose = (event: CloseEvent) => {
      if (event.code === CLOSE_NOT_AUTHENTICATED) this.options.onUnauthenticated?.();
      this.handleDrop();
    };
    // An error is always followed by close; reconnecting happens there.
    socket.onerror = null;
  }

  private handleMessage(event: MessageEvent): void {
    let message: unknown;
    try {
      message = JSON.parse(String(event.data));
    } catch {
      return;
    }
    if (typeof message !== "object" || message === null) return;
    const typed = message as ServerMessage;
    if (typed.type === "pong") clearTimeout(this.pongTimer);
    this.options.onMessage?.(typed);
  }

  private startHeartbeat(): void {
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(() => {
      if (!this.send({ type: "ping" })) return;
      clearTimeout(this.pongTimer);
      // No pong in time: the connection is dead even if the browser has not noticed.
      this.pongTimer = setTimeout(() => {
        const socket = this.socket;
        this.detach();
        socket?.close(4000);
        this.handleDrop();
      }, this.options.pongTimeoutMs);
    }, this.options.pingIntervalMs);
  }

  private detach(): void {
    if (this.socket) {
      this.socket.onopen = this.socket.onclose = this.socket.onmessage = null;
    }
    this.socket = undefined;
  }

  private handleDrop(): void {
    this.detach();
    this.clearTimers();
    if (this.stopped) return;
    this.setStatus("reconnecting");
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    clearTimeout(this.reconnectTimer);
    const delay = backoffDelay(this.attempt, this.options.backoff);
    this.attempt += 1;
    this.reconnectTimer = setTimeout(() => this.open("reconnecting"), delay);
  }

  private clearTimers(): void {
    clearTimeout(this.reconnectTimer);
    clearInterval(this.pingTimer);
    clearTimeout(this.pongTimer);
  }
}
