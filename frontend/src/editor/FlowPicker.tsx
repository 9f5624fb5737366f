/** The `format: "flow-ref"` config field: a published flow of the organization (a sub-flow, or an
 * agent's flow tool). Choosing one also fills the node's outputs from the flow's output nodes. */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { queryKeys } from "../api/queryKeys";
import type { components } from "../api/schema";

export type CallableFlow = components["schemas"]["CallableFlowOut"];

export function useCallableFlows(orgId: string) {
  return useQuery({
    queryKey: [...queryKeys.flows(orgId), "callable"] as const,
    queryFn: () => unwrap(api.GET("/api/v1/orgs/{org_id}/flows/callable/", { params: { path: { org_id: orgId } } })),
    staleTime: 30_000,
  });
}

/** The sub-flow node's `outputs` for a flow: one per output node, with its format. */
export function outputsOf(flow: CallableFlow): { name: string; format: string }[] {
  return flow.outputs.map((o) => ({ name: o.name, format: o.format ?? "text" }));
}

interface FlowPickerProps {
  orgId: string;
  id: string;
  value: string;
  onChange: (id: string) => void;
  /** Sets other fields of the same config at once (the sub-flow's outputs). */
  onChosen?: (flow: CallableFlow) => void;
  disabled: boolean;
  "aria-invalid"?: boolean;
  "aria-describedby"?: string;
}

export function FlowPicker({ orgId, id, value, onChange, onChosen, disabled, ...aria }: FlowPickerProps) {
  const query = useCallableFlows(orgId);
  const flows = query.data ?? [];
  const chosen = flows.find((flow) => flow.id === value);
  const placeholder = query.isPending
    ? "Loading flows…"
    : query.isError
      ? "Flows unavailable"
      : flows.length
        ? "Choose a published flow"
        : "No published flows yet: publish a flow to call it from here";
  return (
    <>
      <select
        className="select"
        id={id}
        data-testid="flow-picker"
        {...aria}
        value={value}
        disabled={disabled}
        onChange={(e) => {
          const next = flows.find((flow) => flow.id === e.target.value);
          if (next && onChosen) onChosen(next);
          else onChange(e.target.value);
        }}
      >
        <option value="">{placeholder}</option>
        {value && !chosen ? <option value={value}>{query.isSuccess ? "A flow that is gone or not published" : value}</option> : null}
        {flows.map((flow) => (
          <option key={flow.id} value={flow.id}>
            {flow.name} (v{flow.version})
          </option>
        ))}
      </select>
      {chosen ? (
        <p className="field__hint">
          Takes its chat message; gives {chosen.outputs.length ? chosen.outputs.map((o) => `${o.name} (${o.format ?? "text"})`).join(", ") : "no outputs"}.
        </p>
      ) : null}
      {value && query.isSuccess && !chosen ? <p className="field__hint">Publish that flow, or choose another: a sub-flow runs a flow's published version.</p> : null}
    </>
  );
}
