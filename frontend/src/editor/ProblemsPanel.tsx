/** The server's validation issues, all at once, in words for people; a click focuses the node (or edge) concerned. */
import { useEditor } from "./context";
import { nodeName } from "./graph";

export function ProblemsPanel() {
  const issues = useEditor((s) => s.issues);
  const index = useEditor((s) => s.issueIndex);
  const focusNode = useEditor((s) => s.focusNode);
  const edges = useEditor((s) => s.edges);
  const nodes = useEditor((s) => s.nodes);
  const types = useEditor((s) => s.types);
  const nameOf = (id: string) => nodeName(nodes.find((n) => n.id === id), types, id);

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
      <p className="muted small">
        {issues.length === 1 ? "1 problem" : `${issues.length} problems`} to fix before the flow can be published.
      </p>
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
              <span className="issue__message">{issue.message}</span>
              <span className="issue__where">
                {edge ? `Connection into ${node ? nameOf(node) : edge}` : node ? `Show ${nameOf(node)}` : "The whole flow"}
                <span className="issue__code"> · {issue.code}</span>
              </span>
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}
