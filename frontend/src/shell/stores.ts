/** Client-only UI state (zustand): realtime connection status, the mobile navigation drawer. */
import { create } from "zustand";
import type { SocketStatus } from "../lib/socket";

interface ConnectionState {
  status: SocketStatus;
  setStatus: (status: SocketStatus) => void;
}

export const useConnectionStore = create<ConnectionState>()((set) => ({
  status: "closed",
  setStatus: (status) => set({ status }),
}));

interface NavState {
  open: boolean;
  setOpen: (open: boolean) => void;
  toggle: () => void;
}

export const useNavStore = create<NavState>()((set) => ({
  open: false,
  setOpen: (open) => set({ open }),
  toggle: () => set((state) => ({ open: !state.open })),
}));

interface SignOutState {
  /** Set while the user signs out on purpose, so the redirect to /login carries no ?next=. */
  signingOut: boolean;
  setSigningOut: (signingOut: boolean) => void;
}

export const useSignOutStore = create<SignOutState>()((set) => ({
  signingOut: false,
  setSigningOut: (signingOut) => set({ signingOut }),
}));
