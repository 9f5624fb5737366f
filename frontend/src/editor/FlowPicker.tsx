/** The `format: "flow-ref"` config field: a published flow of the organization (a sub-flow). */
import { useFlows } from "./api";

interface FlowPickerProps {
  orgId: string;
  id: string;
  value: string;
  onChange: (id: string) => void;
  disabled: boolean;
  "aria-invalid"?: boolean;
  "aria-describedby"?: string;
}

export function FlowPicker({ orgId, id, value, onChange, disabled, ...aria }: FlowPickerProps) {
  const query = useFlows(orgId, "");
  const flows = (query.data?.results ?? []).filter((flow) => flow.published_version);
  const known = flows.some((flow) => flow.id === value);
  const placeholder = query.isPending
    ? "Loading flows…"
    : query.isError
      ? "Flows unavailable"
      : flows.length
        ? "Choose a published flow"
        : "No published flows yet";
  return (
    <>
      <select className="select" id={id} data-testid="flow-picker" {...aria} value={value} disabled={disabled} onChange={(e) => onChange(e.target.value)}>
        <option value="">{placeholder}</option>
        {value && !known ? <option value={value}>{query.isSuccess ? "A flow that is gone or not published" : value}</option> : null}
        {flows.map((flow) => (
          <option key={flow.id} value={flow.id}>
            {flow.name} (v{flow.published_version})
          </option>
        ))}
      </select>
      {value && query.isSuccess && !known ? <p className="field__hint">Publish that flow, or choose another: a sub-flow runs a flow's published version.</p> : null}
    </>
  );
}
