import type { SocketStatus } from "../lib/socket";
import { useConnectionStore } from "./stores";

const LABELS: Record<SocketStatus, string> = {
  connected: "Live",
  connecting: "Connecting…",
  reconnecting: "Reconnecting…",
  closed: "Offline",
};

const TITLES: Record<SocketStatus, string> = {
  connected: "Realtime connection is up",
  connecting: "Opening the realtime connection",
  reconnecting: "Realtime connection lost; reconnecting",
  closed: "No realtime connection",
};

export function ConnectionStatus() {
  const status = useConnectionStore((state) => state.status);
  return (
    <span
      className={`conn conn--${status}`}
      role="status"
      title={TITLES[status]}
      data-testid="connection-status"
      data-status={status}
    >
      <span className="conn__dot" aria-hidden="true" />
      <span className="conn__label">{LABELS[status]}</span>
      <span className="sr-only">{TITLES[status]}</span>
    </span>
  );
}
