import { Link } from "react-router";
import { EmptyState } from "../ui/feedback";
import { AlertIcon } from "../ui/icons";

export function NotFoundPage({ home = "/" }: { home?: string }) {
  return (
    <div className="page">
      <EmptyState
        icon={<AlertIcon size={24} />}
        title="Page not found"
        action={
          <Link className="btn btn--secondary" to={home}>
            Back to Trellis
          </Link>
        }
      >
        The address may be mistyped, or the page has moved.
      </EmptyState>
    </div>
  );
}
