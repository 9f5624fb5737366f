import type { SelectHTMLAttributes } from "react";
import type { Role } from "../api/types";
import { ROLE_LABELS } from "../lib/roles";

type RoleSelectProps = Omit<SelectHTMLAttributes<HTMLSelectElement>, "value" | "onChange"> & {
  value: Role;
  roles: readonly Role[];
  onChange: (role: Role) => void;
};

export function RoleSelect({ value, roles, onChange, className = "select", ...rest }: RoleSelectProps) {
  const options = roles.includes(value) ? roles : [value, ...roles];
  return (
    <select {...rest} className={className} value={value} onChange={(event) => onChange(event.target.value as Role)}>
      {options.map((role) => (
        <option key={role} value={role}>
          {ROLE_LABELS[role]}
        </option>
      ))}
    </select>
  );
}
