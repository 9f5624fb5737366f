/** Last resort for a render error inside a route: say so, offer a way back. */
import { isRouteErrorResponse, Link, useRouteError } from "react-router";
import { EmptyState } from "../ui/feedback";
import { AlertIcon } from "../ui/icons";

export function RouteError() {
  const error = useRouteError();
  const message = isRouteErrorResponse(error)
    ? `${error.status} ${error.statusText}`
    : error instanceof Error
      ? error.message
      : "Unknown error";
  return (
    <div className="auth">
      <div style={{ maxWidth: 520, width: "100%" }}>
        <EmptyState
          icon={<AlertIcon size={24} />}
          title="Something went wrong"
          action={
            <Link className="btn btn--secondary" to="/" reloadDocument>
              Reload Trellis
            </Link>
          }
        >
          <span role="alert">{message}</span>
        </EmptyState>
      </div>
    </div>
  );
}
