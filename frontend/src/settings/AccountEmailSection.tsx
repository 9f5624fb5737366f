/** "Your email": the signed-in person's address and whether it is verified; setting one sends a
 *  verification link (shown here when the server has no mail server, as in the embedded default). */
import { useState, type FormEvent } from "react";
import { useMe, useSetEmail } from "../api/auth";
import { fieldErrors } from "../lib/forms";
import { FormError } from "../ui/feedback";
import { Field } from "../ui/Field";

export function AccountEmailSection() {
  const me = useMe();
  const setEmail = useSetEmail();
  const [email, setEmailValue] = useState("");
  if (!me.data || me.data.id === 0) return null; // an API key has no email

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      await setEmail.mutateAsync(email.trim());
    } catch {
      // shown in the form
    }
  }

  const current = me.data.email;
  return (
    <section className="card" aria-labelledby="account-email-title">
      <div className="card__body form">
      <h2 id="account-email-title" className="section__title">
        Your email
      </h2>
      <p className="muted">
        {current ? (
          <>
            <strong>{current}</strong> — {me.data.email_verified ? "verified" : "not verified yet"}.
          </>
        ) : (
          "No email address yet."
        )}{" "}
        Invitations can only be accepted with the account whose verified address they were sent to.
      </p>
      <form className="form" onSubmit={submit} noValidate>
        <FormError error={setEmail.error} />
        <Field label="Email address" errors={fieldErrors(setEmail.error, "email")}>
          <input
            className="input"
            type="email"
            autoComplete="email"
            value={email}
            onChange={(event) => setEmailValue(event.target.value)}
            placeholder={current || "name@example.com"}
          />
        </Field>
        <div className="form-actions">
          <button type="submit" className="btn btn--secondary" disabled={setEmail.isPending || !email.trim()}>
            {setEmail.isPending ? "Sending…" : "Send verification link"}
          </button>
        </div>
        {setEmail.data ? (
          <div className="callout" role="status">
            {setEmail.data.verify_url ? (
              <span>
                No mail server is configured: open <a href={setEmail.data.verify_url}>this verification link</a>{" "}
                (also in the server log).
              </span>
            ) : (
              <span>A verification link was sent to {setEmail.data.email}.</span>
            )}
          </div>
        ) : null}
      </form>
      </div>
    </section>
  );
}
