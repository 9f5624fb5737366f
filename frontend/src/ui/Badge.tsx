import type { ReactNode } from "react";
import type { Role } from "../api/types";
import { ROLE_LABELS } from "../lib/roles";

type Tone = "neutral" | "brand" | "success" | "warning" | "danger";

export function Badge({ tone = "neutral", children }: { tone?: Tone; children: ReactNode }) {
  return <span className={`badge badge--${tone}`}>{children}</span>;
}

const ROLE_TONES: Record<Role, Tone> = { owner: "brand", admin: "brand", editor: "neutral", viewer: "neutral" };

export function RoleBadge({ role }: { role: Role }) {
  return <Badge tone={ROLE_TONES[role]}>{ROLE_LABELS[role]}</Badge>;
}
