import { FlowsIcon } from "../ui/icons";
import { PlaceholderPage } from "./Placeholder";

export function FlowsPage() {
  return (
    <PlaceholderPage
      title="Flows"
      description="Visual pipelines that turn a question into an answer."
      icon={<FlowsIcon size={24} />}
      emptyTitle="No flows yet"
      emptyText="A flow is an LLM application drawn on a canvas: chat input, prompt templates, retrieval from your knowledge, branches, tool calls and model steps, wired together and run live with streamed tokens."
      highlights={[
        "Build on a canvas, test in the playground",
        "Publish versions and roll back in one click",
        "Serve them through the API or as a chat widget",
      ]}
    />
  );
}
