/** Every route of the app. Section pages are plain components, easy to swap for real ones. */
import { createBrowserRouter, Navigate, type RouteObject } from "react-router";
import { AcceptInvitePage } from "./auth/AcceptInvitePage";
import { LoginPage } from "./auth/LoginPage";
import { VerifyEmailPage } from "./auth/VerifyEmailPage";
import { FlowsPage } from "./flows/FlowsPage";
import { HomeRedirect, OrgIndexRedirect } from "./pages/HomeRedirect";
import { KnowledgePage } from "./pages/KnowledgePage";
import { ModelsPage } from "./models/ModelsPage";
import { NotFoundPage } from "./pages/NotFoundPage";
import { RunsPage } from "./pages/RunsPage";
import { EvaluationPage } from "./evaluation/EvaluationPage";
import { GuardrailsPage } from "./guardrails/GuardrailsPage";
import { IntegrationsPage } from "./integrations/IntegrationsPage";
import { WelcomePage } from "./pages/WelcomePage";
import { WidgetsPage } from "./widgets/WidgetsPage";
import { ApiKeysSettings } from "./settings/ApiKeysSettings";
import { AuditLogSettings } from "./settings/AuditLogSettings";
import { MembersSettings } from "./settings/MembersSettings";
import { OrganizationSettings } from "./settings/OrganizationSettings";
import { SettingsLayout } from "./settings/SettingsLayout";
import { AppLayout } from "./shell/AppLayout";
import { RequireAuth } from "./shell/RequireAuth";
import { RouteError } from "./shell/RouteError";

export const routes: RouteObject[] = [
  {
    errorElement: <RouteError />,
    children: [
      { path: "/login", element: <LoginPage /> },
      { path: "/invite", element: <AcceptInvitePage /> },
      { path: "/verify-email", element: <VerifyEmailPage /> },
      {
        element: <RequireAuth />,
        children: [
          { index: true, element: <HomeRedirect /> },
          { path: "welcome", element: <WelcomePage /> },
          // The editor is full-screen and code-split: React Flow loads only when a flow opens.
          { path: "o/:orgId/flows/:flowId", lazy: () => import("./editor/route") },
          {
            path: "o/:orgId",
            element: <AppLayout />,
            children: [
              { index: true, element: <OrgIndexRedirect /> },
              { path: "flows", element: <FlowsPage /> },
              { path: "knowledge", element: <KnowledgePage /> },
              { path: "models", element: <ModelsPage /> },
              { path: "widgets", element: <WidgetsPage /> },
              { path: "runs", element: <RunsPage /> },
              { path: "guardrails", element: <GuardrailsPage /> },
              { path: "evaluation", element: <EvaluationPage /> },
              { path: "integrations", element: <IntegrationsPage /> },
              {
                path: "settings",
                element: <SettingsLayout />,
                children: [
                  { index: true, element: <Navigate to="organization" replace /> },
                  { path: "organization", element: <OrganizationSettings /> },
                  { path: "members", element: <MembersSettings /> },
                  { path: "api-keys", element: <ApiKeysSettings /> },
                  { path: "audit", element: <AuditLogSettings /> },
                ],
              },
              { path: "*", element: <NotFoundPage /> },
            ],
          },
          { path: "*", element: <NotFoundPage /> },
        ],
      },
    ],
  },
];

export function createRouter() {
  return createBrowserRouter(routes);
}
