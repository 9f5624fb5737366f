/** Route module for React Router's `lazy`: the editor and React Flow load only here. */
import { EditorPage } from "./EditorPage";

export const Component = EditorPage;
