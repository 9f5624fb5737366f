import { KnowledgeIcon } from "../ui/icons";
import { PlaceholderPage } from "./Placeholder";

export function KnowledgePage() {
  return (
    <PlaceholderPage
      title="Knowledge"
      description="The documents your flows answer from."
      icon={<KnowledgeIcon size={24} />}
      emptyTitle="No knowledge bases yet"
      emptyText="A knowledge base is a collection of documents (PDFs, web pages, text) that Trellis parses, chunks and embeds, so a flow's retrieve step can ground its answers in them."
      highlights={[
        "Upload files and follow each document's ingestion",
        "Vector, keyword and hybrid search",
        "Private to this organization",
      ]}
    />
  );
}
