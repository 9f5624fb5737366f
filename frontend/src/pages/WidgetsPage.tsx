import { WidgetsIcon } from "../ui/icons";
import { PlaceholderPage } from "./Placeholder";

export function WidgetsPage() {
  return (
    <PlaceholderPage
      title="Widgets"
      description="Chat widgets that put a published flow on your website."
      icon={<WidgetsIcon size={24} />}
      emptyTitle="No widgets yet"
      emptyText="A widget embeds a published flow as a chat window on your site with one script tag. It runs only published versions, answers only the origins you allow, and never exposes your keys."
      highlights={[
        "One snippet to embed",
        "Allowed origins per widget",
        "Public keys you can rotate",
      ]}
    />
  );
}
