/** The guard hits of one run, for its trace: which check fired where (input, retrieved context,
 *  answer), what it did, never the matched text. Nothing is shown when no check fired. */
import { useQuery } from "@tanstack/react-query";
import { api, unwrap } from "../api/client";
import { guardKeys } from "./api";

export function RunGuardHits({ orgId, runId }: { orgId: string; runId: string }) {
  const hits = useQuery({
    queryKey: [...guardKeys.hits(orgId), "run", runId],
    queryFn: () =>
      unwrap(api.GET("/api/v1/orgs/{org_id}/guard-hits/", { params: { path: { org_id: orgId }, query: { run: runId } } })),
  });
  if (!hits.data || hits.data.length === 0) return null;
  return (
    <section aria-label="Guard hits">
      <h3 className="run-detail__label">Guard hits</h3>
      <ul>
        {hits.data.map((h) => (
          <li key={h.id}>
            {h.stage}
            {h.source !== "user" ? ` (${h.source})` : ""}: {h.check} / {h.label}, {h.action}
            {h.intended ? ` (would ${h.intended})` : ""}, score {h.score.toFixed(2)}
          </li>
        ))}
      </ul>
    </section>
  );
}
