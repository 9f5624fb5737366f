export { KnowledgePage } from "../knowledge/KnowledgePage";
