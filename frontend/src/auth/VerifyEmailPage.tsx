/**
 * /verify-email?token=...: the link mailed to an address (printed to the server log, and shown
 * in Settings, when no mail server is configured). Verifying takes a click, not the page load,
 * so a mail scanner that opens links verifies nothing.
 */
import { Link, useSearchParams } from "react-router";
import { useVerifyEmail } from "../api/auth";
import { FormError } from "../ui/feedback";
import { AuthCard } from "./AuthCard";

export function VerifyEmailPage() {
  const [params] = useSearchParams();
  const token = params.get("token")?.trim() ?? "";
  const verify = useVerifyEmail();

  if (!token) {
    return (
      <AuthCard
        title="Verification link incomplete"
        subtitle="This link has no token. Copy the whole link from the message, or ask for a new one in Settings."
        footer={<Link to="/">Go to Trellis</Link>}
      >
        <></>
      </AuthCard>
    );
  }

  if (verify.isSuccess) {
    return (
      <AuthCard
        title="Email verified"
        subtitle={
          <>
            <strong>{verify.data.email}</strong> now identifies your account: invitations sent to it can be
            accepted with it.
          </>
        }
        footer={<Link to="/">Go to Trellis</Link>}
      >
        <></>
      </AuthCard>
    );
  }

  return (
    <AuthCard title="Verify your email address" subtitle="Confirm that this address is yours.">
      <div className="form">
        <FormError error={verify.error} />
        <button
          type="button"
          className="btn btn--primary btn--block"
          disabled={verify.isPending}
          onClick={() => verify.mutate(token)}
        >
          {verify.isPending ? "Verifying…" : "Verify email"}
        </button>
      </div>
    </AuthCard>
  );
}
