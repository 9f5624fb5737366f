/** The server's validation issues; a click focuses the node (or edge) concerned. */
import { useEditor } from "./context";

export function ProblemsPanel() {
  const issues = useEditor((s) => s.issues);
  const index = useEditor((s) => s.issueIndex);
  const focusNode = useEditor((s) => s.focusNode);
  const edges = useEditor((s) => s.edges);

  if (!issues.length) {
    return (
      <div className="panel-section" data-testid="problems">
        <p className="ok-note">No problems: the draft can be published.</p>
      </div>
    );
  }
  const entries = [
    ...Object.entries(index.nodes).flatMap(([node, list]) => list.map((issue) => ({ issue, node, edge: null as string | null }))),
    ...Object.entries(index.edges).flatMap(([edge, list]) =>
      list.map((issue) => ({ issue, node: edges.find((e) => e.id === edge)?.target ?? issue.node, edge })),
    ),
    ...index.general.map((issue) => ({ issue, node: null as string | null, edge: null as string | null })),
  ];
  return (
    <div className="panel-section" data-testid="problems">
      <ul className="issue-list" aria-label="Problems">
        {entries.map(({ issue, node, edge }, i) => (
          <li key={`${issue.code}-${issue.pointer}-${i}`}>
            <button
              type="button"
              className="issue"
              disabled={!node}
              onClick={() => node && focusNode(node)}
              data-code={issue.code}
            >
              <span className="issue__code">{issue.code}</span>
              <span className="issue__message">{issue.message}</span>
              {edge ? <span className="issue__where">edge {edge}</span> : node ? <span className="issue__where">{node}</span> : null}
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
