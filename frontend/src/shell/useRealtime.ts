/** Keeps the tab's WebSocket open while someone is signed in; mirrors its status in a store. */
import { useQueryClient } from "@tanstack/react-query";
import { useEffect } from "react";
import { queryKeys } from "../api/queryKeys";
import { ReconnectingSocket, socketUrl } from "../lib/socket";
import { useConnectionStore } from "./stores";

export function useRealtime(enabled: boolean): void {
  const queryClient = useQueryClient();
  const setStatus = useConnectionStore((state) => state.setStatus);

  useEffect(() => {
    if (!enabled || typeof WebSocket === "undefined") return;
    const socket = new ReconnectingSocket({
      url: socketUrl(window.location),
      onStatus: setStatus,
      // The session may have ended: let /auth/me/ decide whether to go to the login page.
      onUnauthenticated: () => void queryClient.invalidateQueries({ queryKey: queryKeys.me }),
    });
    const reconnect = () => socket.reconnectNow();
    window.addEventListener("online", reconnect);
    socket.start();
    return () => {
      window.removeEventListener("online", reconnect);
      socket.stop();
    };
  }, [enabled, queryClient, setStatus]);
}
