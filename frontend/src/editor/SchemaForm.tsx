/** A config form generated from a node's JSON Schema; errors show at the field. */
import { useId, type ReactNode } from "react";
import { templateVariables } from "./graph";
import { FlowPicker, outputsOf, type CallableFlow } from "./FlowPicker";
import { JsonSchemaBuilder } from "./JsonSchemaBuilder";
import { KnowledgeBasePicker } from "./KnowledgeBasePicker";
import { checkValue, fieldLabel, resolveSchema, type JsonSchema } from "./schema";

export interface FormContext {
  models: string[];
  tools: string[];
  /** The organization whose knowledge bases the `knowledge-base` picker lists. */
  orgId: string;
  /** Upstream outputs, offered as variable names for prompt templates. */
  upstream: string[];
  readOnly: boolean;
}

interface SchemaFormProps {
  schema: JsonSchema;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  serverErrors: Record<string, string[]>;
  context: FormContext;
}

export function SchemaForm({ schema, value, onChange, serverErrors, context }: SchemaFormProps) {
  const defs = schema.$defs ?? {};
  return (
    <ObjectFields
      schema={schema}
      defs={defs}
      value={value}
      onChange={onChange}
      serverErrors={serverErrors}
      context={context}
    />
  );
}

interface ObjectProps {
  schema: JsonSchema;
  defs: Record<string, JsonSchema>;
  value: Record<string, unknown>;
  onChange: (value: Record<string, unknown>) => void;
  serverErrors?: Record<string, string[]>;
  context: FormContext;
}

function ObjectFields({ schema, defs, value, onChange, serverErrors = {}, context }: ObjectProps) {
  const properties = Object.entries(schema.properties ?? {});
  if (!properties.length) return <p className="muted">This node has nothing to configure.</p>;
  return (
    <div className="sform">
      {properties.map(([name, raw]) => {
        const prop = resolveSchema(raw, defs);
        const required = (schema.required ?? []).includes(name);
        const fieldValue = value[name] === undefined ? prop.default : value[name];
        const set = (next: unknown) => {
          const copy = { ...value };
          if (next === undefined) delete copy[name];
          else copy[name] = next;
          onChange(copy);
        };
        const errors = [...checkValue(prop, fieldValue, required), ...(serverErrors[name] ?? [])];
        return (
          <FieldFor
            onPatch={schema.properties?.outputs ? (changes) => onChange({ ...value, ...changes }) : undefined}
            key={name}
            name={name}
            schema={prop}
            defs={defs}
            value={fieldValue}
            onChange={set}
            required={required}
            errors={[...new Set(errors)]}
            context={context}
          />
        );
      })}
    </div>
  );
}

interface FieldProps {
  name: string;
  schema: JsonSchema;
  defs: Record<string, JsonSchema>;
  value: unknown;
  onChange: (value: unknown) => void;
  required: boolean;
  errors: string[];
  context: FormContext;
  /** Changes several fields of the same object at once (a picked sub-flow fills its outputs). */
  onPatch?: (changes: Record<string, unknown>) => void;
}

function FieldShell({ id, label, required, description, errors, children, extra }: {
  id: string;
  label: string;
  required: boolean;
  description?: string;
  errors: string[];
  children: ReactNode;
  extra?: ReactNode;
}) {
  return (
    <div className="field sform__field">
      <label className="field__label" htmlFor={id}>
        {label}
        {required ? <span className="sform__req" aria-hidden="true"> *</span> : null}
      </label>
      {children}
      {extra}
      {description ? <p className="field__hint">{description}</p> : null}
      {errors.length ? (
        <ul className="field__errors" id={`${id}-errors`} role="alert">
          {errors.map((e) => (
            <li key={e}>{e}</li>
          ))}
        </ul>
      ) : null}
    </div>
  );
}

function FieldFor({ name, schema, defs, value, onChange, required, errors, context, onPatch }: FieldProps) {
  const id = useId();
  const label = fieldLabel(name, schema);
  const invalid = errors.length > 0;
  const common = {
    id,
    disabled: context.readOnly,
    "aria-invalid": invalid || undefined,
    "aria-describedby": invalid ? `${id}-errors` : undefined,
  };
  const shell = (control: ReactNode, extra?: ReactNode) => (
    <FieldShell id={id} label={label} required={required} description={schema.description} errors={errors} extra={extra}>
      {control}
    </FieldShell>
  );
  const text = typeof value === "string" ? value : value === undefined || value === null ? "" : String(value);
  const orNull = (raw: string) => (raw === "" ? (schema.nullable ? null : required ? "" : undefined) : raw);

  if (schema.enum) {
    return shell(
      <select className="select" {...common} value={text} onChange={(e) => onChange(orNull(e.target.value))}>
        {(!required && schema.default === undefined) || schema.nullable ? <option value="">—</option> : null}
        {schema.enum.map((option) => (
          <option key={String(option)} value={String(option)}>
            {String(option)}
          </option>
        ))}
      </select>,
    );
  }

  // The issue-20 nodes' fields: a schema built in a form, a published flow, a Jinja template.
  if (schema.format === "json-schema") {
    return shell(<JsonSchemaBuilder id={id} value={value} onChange={onChange} disabled={context.readOnly} />);
  }
  if (schema.format === "flow-ref") {
    // The sub-flow node (a `flow` beside `outputs`) takes the chosen flow's outputs with it.
    const chosen = onPatch && name === "flow" ? (flow: CallableFlow) => onPatch({ flow: flow.id, outputs: outputsOf(flow) }) : undefined;
    return shell(<FlowPicker orgId={context.orgId} {...common} value={text} onChange={(raw) => onChange(orNull(raw))} onChosen={chosen} />);
  }
  if (schema.format === "jinja") {
    return shell(<textarea className="input sform__prompt" rows={5} spellCheck={false} {...common} value={text} onChange={(e) => onChange(orNull(e.target.value))} />);
  }

  switch (schema.type) {
    case "boolean":
      return (
        <div className="field sform__field sform__check">
          <label htmlFor={id}>
            <input id={id} type="checkbox" disabled={context.readOnly} checked={Boolean(value)} onChange={(e) => onChange(e.target.checked)} />{" "}
            {label}
          </label>
          {schema.description ? <p className="field__hint">{schema.description}</p> : null}
        </div>
      );
    case "integer":
    case "number":
      return shell(
        <input
          className="input"
          type="number"
          {...common}
          step={schema.type === "integer" ? 1 : "any"}
          min={schema.minimum}
          max={schema.maximum}
          value={typeof value === "number" ? value : ""}
          onChange={(e) => {
            const raw = e.target.value;
            onChange(raw === "" ? (schema.nullable ? null : undefined) : Number(raw));
          }}
        />,
      );
    case "array": {
      const items = resolveSchema(schema.items ?? {}, defs);
      const list = Array.isArray(value) ? value : [];
      if (items.type === "object") {
        return shell(
          <div className="sform__list" id={id}>
            {list.map((item, index) => (
              <fieldset className="sform__item" key={index}>
                <legend>
                  {fieldLabel(name, schema)} {index + 1}
                  {!context.readOnly ? (
                    <button type="button" className="btn btn--ghost btn--sm" onClick={() => onChange(list.filter((_, i) => i !== index))}>
                      Remove
                    </button>
                  ) : null}
                </legend>
                <ObjectFields
                  schema={items}
                  defs={defs}
                  value={(item ?? {}) as Record<string, unknown>}
                  onChange={(next) => onChange(list.map((old, i) => (i === index ? next : old)))}
                  context={context}
                />
              </fieldset>
            ))}
            {!context.readOnly ? (
              <button type="button" className="btn btn--secondary btn--sm" onClick={() => onChange([...list, newItem(items, list.length)])}>
                Add {fieldLabel(name, schema).toLowerCase().replace(/s$/, "")}
              </button>
            ) : null}
          </div>,
        );
      }
      const hint = name.includes("tool") && context.tools.length ? `Available: ${context.tools.join(", ")}` : undefined;
      return shell(
        <input
          className="input"
          {...common}
          value={list.map(String).join(", ")}
          placeholder="Comma-separated"
          onChange={(e) =>
            onChange(
              e.target.value
                .split(",")
                .map((s) => s.trim())
                .filter(Boolean),
            )
          }
        />,
        hint ? <p className="field__hint">{hint}</p> : undefined,
      );
    }
    case "object": {
      const map = (value ?? {}) as Record<string, string>;
      const entries = Object.entries(map);
      return shell(
        <div className="sform__kv" id={id}>
          {entries.map(([key, v], index) => (
            <div className="sform__kv-row" key={index}>
              <input
                className="input"
                aria-label={`${label} name ${index + 1}`}
                value={key}
                disabled={context.readOnly}
                onChange={(e) => onChange(Object.fromEntries(entries.map(([k, val], i) => (i === index ? [e.target.value, val] : [k, val]))))}
              />
              <input
                className="input"
                aria-label={`${label} value ${index + 1}`}
                value={v}
                disabled={context.readOnly}
                onChange={(e) => onChange({ ...map, [key]: e.target.value })}
              />
            </div>
          ))}
          {!context.readOnly ? (
            <button type="button" className="btn btn--secondary btn--sm" onClick={() => onChange({ ...map, [`arg${entries.length + 1}`]: "" })}>
              Add entry
            </button>
          ) : null}
        </div>,
      );
    }
    default:
      break;
  }

  if (schema.format === "prompt") {
    const vars = templateVariables(text);
    return shell(
      <textarea className="input sform__prompt" rows={4} {...common} value={text} onChange={(e) => onChange(orNull(e.target.value))} />,
      <div className="sform__vars">
        {vars.length ? (
          <span>
            Inputs: {vars.map((v) => (
              <code key={v}>{`{{${v}}}`}</code>
            ))}
          </span>
        ) : (
          <span>Write {"{{name}}"} to add an input port.</span>
        )}
        {context.upstream.length && !context.readOnly ? (
          <span className="sform__suggest">
            Insert:{" "}
            {context.upstream.map((v) => (
              <button type="button" key={v} className="chip" onClick={() => onChange(`${text}{{${v}}}`)}>
                {v}
              </button>
            ))}
          </span>
        ) : null}
      </div>,
    );
  }
  if (schema.format === "model-alias") {
    const options = context.models.includes(text) || !text ? context.models : [text, ...context.models];
    return shell(
      <select className="select" {...common} value={text} onChange={(e) => onChange(orNull(e.target.value))}>
        <option value="">{context.models.length ? "Choose a model" : "No models yet"}</option>
        {options.map((alias) => (
          <option key={alias} value={alias}>
            {alias}
          </option>
        ))}
      </select>,
    );
  }
  if (schema.format === "tool-name") {
    return shell(
      <select className="select" {...common} value={text} onChange={(e) => onChange(orNull(e.target.value))}>
        <option value="">Choose a tool</option>
        {context.tools.map((tool) => (
          <option key={tool} value={tool}>
            {tool}
          </option>
        ))}
      </select>,
    );
  }
  if (schema.format === "knowledge-base") {
    return shell(<KnowledgeBasePicker orgId={context.orgId} {...common} value={text} onChange={(raw) => onChange(orNull(raw))} />);
  }
  const long = (schema.maxLength ?? 0) > 300;
  return shell(
    long ? (
      <textarea className="input" rows={3} {...common} value={text} onChange={(e) => onChange(orNull(e.target.value))} />
    ) : (
      <input className="input" {...common} value={text} onChange={(e) => onChange(orNull(e.target.value))} />
    ),
  );
}

function newItem(schema: JsonSchema, index: number): Record<string, unknown> {
  const item: Record<string, unknown> = {};
  for (const [name, prop] of Object.entries(schema.properties ?? {})) {
    if (prop.default !== undefined && prop.default !== null) item[name] = prop.default;
  }
  const required = schema.required ?? [];
  // Unique starting values for required ids/labels so a new item is valid at once.
  if (required.includes("id")) item.id = `route_${index + 1}`;
  if (required.includes("label")) item.label = `Route ${index + 1}`;
  return item;
}
