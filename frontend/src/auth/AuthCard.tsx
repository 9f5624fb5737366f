import type { ReactNode } from "react";
import { Logo } from "../ui/icons";

export function AuthCard({ title, subtitle, children, footer }: {
  title: string;
  subtitle?: ReactNode;
  children: ReactNode;
  footer?: ReactNode;
}) {
  return (
    <div className="auth">
      <main className="auth__card">
        <div className="auth__brand">
          <Logo size={28} />
          <span>Trellis</span>
        </div>
        <h1 className="auth__title">{title}</h1>
        {subtitle ? <p className="auth__subtitle">{subtitle}</p> : <div style={{ height: 20 }} />}
        {children}
        {footer ? <div className="auth__footer">{footer}</div> : null}
      </main>
    </div>
  );
}
