import { ModelsIcon } from "../ui/icons";
import { PlaceholderPage } from "./Placeholder";

export function ModelsPage() {
  return (
    <PlaceholderPage
      title="Models"
      description="The language and embedding models your flows call."
      icon={<ModelsIcon size={24} />}
      emptyTitle="No models yet"
      emptyText="Connect model endpoints that speak the OpenAI-compatible protocol, or run managed vLLM deployments on your own hardware. Flows refer to models by alias, so you can swap one without editing a flow."
      highlights={[
        "OpenAI-compatible endpoints with encrypted keys",
        "Managed vLLM deployments",
        "Timeouts, retries and fallbacks per alias",
      ]}
    />
  );
}
