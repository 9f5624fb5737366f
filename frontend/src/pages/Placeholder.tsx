/** The shared frame of a section that has no content yet: a heading and an empty state. */
import type { ReactNode } from "react";
import { EmptyState } from "../ui/feedback";
import { PageHeader } from "../ui/PageHeader";

interface PlaceholderPageProps {
  title: string;
  description: string;
  icon: ReactNode;
  emptyTitle: string;
  emptyText: ReactNode;
  highlights: string[];
}

export function PlaceholderPage({ title, description, icon, emptyTitle, emptyText, highlights }: PlaceholderPageProps) {
  return (
    <div className="page">
      <PageHeader title={title} description={description} />
      <EmptyState icon={icon} title={emptyTitle}>
        <p>{emptyText}</p>
        <ul>
          {highlights.map((item) => (
            <li key={item}>{item}</li>
          ))}
        </ul>
      </EmptyState>
    </div>
  );
}
