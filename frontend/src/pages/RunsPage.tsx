import { RunsIcon } from "../ui/icons";
import { PlaceholderPage } from "./Placeholder";

export function RunsPage() {
  return (
    <PlaceholderPage
      title="Runs"
      description="Every execution of every flow, step by step."
      icon={<RunsIcon size={24} />}
      emptyTitle="No runs yet"
      emptyText="Each time a flow runs, from the playground, the API or a widget, its trace lands here: the inputs, every node's output and latency, the tokens used and what they cost."
      highlights={[
        "Node-by-node traces with timings",
        "Token usage and cost per run",
        "Filter by flow, version and status",
      ]}
    />
  );
}
