import { useState, type FormEvent, type ReactNode } from "react";
import { useCreateOrganization } from "../api/orgs";
import type { Organization } from "../api/types";
import { fieldErrors } from "../lib/forms";
import { Field } from "../ui/Field";
import { FormError } from "../ui/feedback";

interface Props {
  onCreated: (org: Organization) => void;
  /** Extra buttons before the submit button (a dialog's Cancel). */
  secondaryAction?: ReactNode;
  submitLabel?: string;
}

export function CreateOrganizationForm({ onCreated, secondaryAction, submitLabel = "Create" }: Props) {
  const [name, setName] = useState("");
  const create = useCreateOrganization();

  async function submit(event: FormEvent) {
    event.preventDefault();
    try {
      onCreated(await create.mutateAsync(name.trim()));
    } catch {
      // shown below from create.error
    }
  }

  return (
    <form className="form" onSubmit={submit} noValidate>
      <FormError error={create.error} />
      <Field label="Name" errors={fieldErrors(create.error, "name")}>
        <input
          className="input"
          value={name}
          onChange={(event) => setName(event.target.value)}
          placeholder="Acme Inc."
          autoComplete="organization"
          maxLength={120}
          required
        />
      </Field>
      <div className="form-actions">
        {secondaryAction}
        <button type="submit" className="btn btn--primary" disabled={create.isPending || !name.trim()}>
          {create.isPending ? "Creating…" : submitLabel}
        </button>
      </div>
    </form>
  );
}
