/**
 * A secret the server returns exactly once (an API key, an invitation link). It lives only in
 * the state of whoever renders this; once that closes, it is gone for good.
 */
import type { ReactNode } from "react";
import { CopyButton } from "./CopyButton";
import { AlertIcon } from "./icons";

interface SecretRevealProps {
  label: string;
  value: string;
  testId: string;
  warning: ReactNode;
  children?: ReactNode;
}

export function SecretReveal({ label, value, testId, warning, children }: SecretRevealProps) {
  return (
    <div className="secret">
      <div className="secret__warning" role="note">
        <AlertIcon size={16} />
        <span>{warning}</span>
      </div>
      <p className="secret__label">{label}</p>
      <div className="secret__row">
        <code className="secret__value" data-testid={testId}>
          {value}
        </code>
        <CopyButton value={value} />
      </div>
      {children}
    </div>
  );
}
