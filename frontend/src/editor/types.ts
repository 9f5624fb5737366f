/** Aliases of the generated backend types the editor uses; no shape is written by hand. */
import type { components } from "../api/schema";

type Schemas = components["schemas"];

export type FlowSpec = Schemas["FlowSpec"];
export type FlowSettings = NonNullable<FlowSpec["settings"]>;
export type FlowCache = NonNullable<FlowSettings["cache"]>;
export type SpecNode = NonNullable<FlowSpec["nodes"]>[number];
export type SpecEdge = NonNullable<FlowSpec["edges"]>[number];
export type FlowDetail = Schemas["FlowDetailOut"];
export type FlowSummary = Schemas["FlowOut"];
export type Issue = Schemas["IssueOut"];
export type NodeType = Schemas["NodeTypeOut"];
export type NodeCatalog = Schemas["NodeCatalogOut"];
export type Port = Schemas["PortOut"];
export type NodePorts = Schemas["NodePortsOut"];
export type FlowVersion = Schemas["FlowVersionOut"];
export type FlowDiff = Schemas["FlowDiffOut"];
export type RunDetail = Schemas["RunTraceOut"];
export type ModelEndpoint = Schemas["ModelEndpointOut"];
export type FlowExport = Schemas["FlowExportOut"];
