/** The signed-in user and the organization in the URL, for everything inside the shell. */
import { createContext, useContext } from "react";
import type { Me, MeOrganization } from "../api/types";

export const SessionContext = createContext<Me | null>(null);
export const CurrentOrgContext = createContext<MeOrganization | null>(null);

export function useSession(): Me {
  const me = useContext(SessionContext);
  if (!me) throw new Error("useSession() outside <RequireAuth>");
  return me;
}

export function useCurrentOrg(): MeOrganization {
  const org = useContext(CurrentOrgContext);
  if (!org) throw new Error("useCurrentOrg() outside an /o/:orgId route");
  return org;
}
