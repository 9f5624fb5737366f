/** The `format: "json-schema"` config field: the fields a model fills, built in a form. Each
 * field becomes an output port of the node (a branch can route on it). */
import { useState } from "react";
import { FIELD_KINDS, fieldProblems, fieldsToSchema, schemaToFields, type FieldKind, type SchemaField } from "./schemaBuilder";

interface JsonSchemaBuilderProps {
  id: string;
  value: unknown;
  onChange: (schema: Record<string, unknown>) => void;
  disabled: boolean;
}

export function JsonSchemaBuilder({ id, value, onChange, disabled }: JsonSchemaBuilderProps) {
  // The form keeps its own text (a half-typed "refund, " list of values); a schema that changes
  // from outside (undo, another tab's save) replaces it.
  const incoming = JSON.stringify(value ?? null);
  const [state, setState] = useState(() => ({ fields: schemaToFields(value), sent: incoming }));
  let fields = state.fields;
  if (incoming !== state.sent) {
    fields = schemaToFields(value);
    setState({ fields, sent: incoming });
  }
  const set = (next: SchemaField[]) => {
    const schema = fieldsToSchema(next);
    setState({ fields: next, sent: JSON.stringify(schema) });
    onChange(schema);
  };
  const update = (index: number, patch: Partial<SchemaField>) => set(fields.map((f, i) => (i === index ? { ...f, ...patch } : f)));
  const problems = fieldProblems(fields);
  return (
    <div className="sform__schema" id={id} data-testid="schema-builder">
      {fields.length === 0 ? <p className="muted">No fields yet: add the first thing the model should fill in.</p> : null}
      {fields.map((field, index) => (
        <fieldset className="sform__item" key={index}>
          <legend>Field {index + 1}</legend>
          <div className="sform__kv-row">
            <input
              className="input"
              aria-label={`Field ${index + 1} name`}
              value={field.name}
              disabled={disabled}
              onChange={(e) => update(index, { name: e.target.value })}
            />
            <select
              className="select"
              aria-label={`Field ${index + 1} type`}
              value={field.kind}
              disabled={disabled}
              onChange={(e) => update(index, { kind: e.target.value as FieldKind })}
            >
              {FIELD_KINDS.map((kind) => (
                <option key={kind} value={kind}>
                  {kind}
                </option>
              ))}
            </select>
          </div>
          <input
            className="input"
            aria-label={`Field ${index + 1} description`}
            placeholder="What it is, for the model"
            value={field.description}
            disabled={disabled}
            onChange={(e) => update(index, { description: e.target.value })}
          />
          {field.kind === "string" ? (
            <input
              className="input"
              aria-label={`Field ${index + 1} allowed values`}
              placeholder="Allowed values, comma-separated (optional)"
              value={field.choices}
              disabled={disabled}
              onChange={(e) => update(index, { choices: e.target.value })}
            />
          ) : null}
          <label>
            <input type="checkbox" checked={field.required} disabled={disabled} onChange={(e) => update(index, { required: e.target.checked })} /> Required
          </label>
          {!disabled ? (
            <button type="button" className="btn btn--ghost btn--sm" onClick={() => set(fields.filter((_, i) => i !== index))}>
              Remove field
            </button>
          ) : null}
        </fieldset>
      ))}
      {!disabled ? (
        <button
          type="button"
          className="btn btn--secondary btn--sm"
          onClick={() => set([...fields, { name: `field_${fields.length + 1}`, kind: "string", description: "", choices: "", required: true }])}
        >
          Add field
        </button>
      ) : null}
      {problems.length ? (
        <ul className="field__errors" role="alert">
          {problems.map((p) => (
            <li key={p}>{p}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}
