/** The filter bar: every control writes the URL, and the table follows the URL. */
import { useEffect, useState } from "react";
import { FILTER_KEYS, RANGES, SOURCES, STATUSES, type FilterKey, type RunFilters } from "./filters";

interface Props {
  filters: RunFilters;
  flows: { id: string; name: string }[];
  onChange: (key: FilterKey, value: string) => void;
  onClear: () => void;
}

/** A text filter applied when typing pauses (not on every key: each change is a query). */
function TextFilter({ label, name, value, placeholder, onChange }: {
  label: string;
  name: FilterKey;
  value: string;
  placeholder: string;
  onChange: (key: FilterKey, value: string) => void;
}) {
  const [draft, setDraft] = useState(value);
  useEffect(() => setDraft(value), [value]);
  useEffect(() => {
    if (draft === value) return undefined;
    const timer = window.setTimeout(() => onChange(name, draft), 400);
    return () => window.clearTimeout(timer);
  }, [draft, value, name, onChange]);
  return (
    <label className="runs-filter">
      <span className="runs-filter__label">{label}</span>
      <input
        className="input input--sm"
        type="search"
        name={name}
        value={draft}
        placeholder={placeholder}
        onChange={(e) => setDraft(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === "Enter") onChange(name, draft);
        }}
      />
    </label>
  );
}

function SelectFilter({ label, name, value, options, onChange }: {
  label: string;
  name: FilterKey;
  value: string;
  options: readonly (readonly [string, string])[];
  onChange: (key: FilterKey, value: string) => void;
}) {
  return (
    <label className="runs-filter">
      <span className="runs-filter__label">{label}</span>
      <select className="select select--sm" name={name} value={value} onChange={(e) => onChange(name, e.target.value)}>
        <option value="">Any</option>
        {options.map(([id, text]) => (
          <option key={id} value={id}>
            {text}
          </option>
        ))}
      </select>
    </label>
  );
}

export function RunFilterBar({ filters, flows, onChange, onClear }: Props) {
  const active = FILTER_KEYS.some((key) => filters[key]);
  return (
    <form className="runs-filters" role="search" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
      <TextFilter label="Search" name="q" value={filters.q ?? ""} placeholder="Words in questions or answers" onChange={onChange} />
      <SelectFilter
        label="Flow"
        name="flow"
        value={filters.flow ?? ""}
        options={flows.map((f) => [f.id, f.name] as const)}
        onChange={onChange}
      />
      {filters.flow ? (
        <TextFilter label="Version" name="version" value={filters.version ?? ""} placeholder="e.g. 3" onChange={onChange} />
      ) : null}
      <SelectFilter label="Source" name="source" value={filters.source ?? ""} options={SOURCES} onChange={onChange} />
      <SelectFilter label="Status" name="status" value={filters.status ?? ""} options={STATUSES} onChange={onChange} />
      <SelectFilter
        label="Time"
        name="since"
        value={filters.since ?? ""}
        options={RANGES.map(([id, text]) => [id, text] as const)}
        onChange={onChange}
      />
      <SelectFilter
        label="Feedback"
        name="feedback"
        value={filters.feedback ?? ""}
        options={[
          ["down", "Thumbs down"],
          ["up", "Thumbs up"],
          ["any", "Any rating"],
        ]}
        onChange={onChange}
      />
      <TextFilter label="Error code" name="error_code" value={filters.error_code ?? ""} placeholder="e.g. model_timeout" onChange={onChange} />
      <TextFilter label="Model" name="model" value={filters.model ?? ""} placeholder="Alias" onChange={onChange} />
      <TextFilter label="User" name="user" value={filters.user ?? ""} placeholder="Email" onChange={onChange} />
      <TextFilter label="Visitor" name="visitor" value={filters.visitor ?? ""} placeholder="Visitor id" onChange={onChange} />
      {active ? (
        <button type="button" className="btn btn--ghost btn--sm runs-filters__clear" onClick={onClear}>
          Clear filters
        </button>
      ) : null}
    </form>
  );
}
