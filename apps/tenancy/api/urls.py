from django.urls import path

from apps.tenancy.api import views

urlpatterns = [
    path("auth/csrf/", views.CsrfView.as_view(), name="auth-csrf"),
    path("auth/login/", views.LoginView.as_view(), name="auth-login"),
    path("auth/logout/", views.LogoutView.as_view(), name="auth-logout"),
    path("auth/me/", views.MeView.as_view(), name="auth-me"),
    path("auth/email/", views.EmailView.as_view(), name="auth-email"),
    path("auth/email/verify/", views.EmailVerifyView.as_view(), name="auth-email-verify"),
    path("invitations/accept/", views.InvitationAcceptView.as_view(), name="invitation-accept"),
    path("orgs/", views.OrganizationListView.as_view(), name="org-list"),
    path("orgs/<str:org_id>/", views.OrganizationDetailView.as_view(), name="org-detail"),
    path("orgs/<str:org_id>/members/", views.MemberListView.as_view(), name="member-list"),
    path("orgs/<str:org_id>/members/<int:member_id>/", views.MemberDetailView.as_view(), name="member-detail"),
    path("orgs/<str:org_id>/invitations/", views.InvitationListView.as_view(), name="invitation-list"),
    path(
        "orgs/<str:org_id>/invitations/<int:invitation_id>/",
        views.InvitationDetailView.as_view(),
        name="invitation-detail",
    ),
    path("orgs/<str:org_id>/api-keys/", views.ApiKeyListView.as_view(), name="api-key-list"),
    path("orgs/<str:org_id>/api-keys/<int:key_id>/", views.ApiKeyDetailView.as_view(), name="api-key-detail"),
    path("orgs/<str:org_id>/audit-events/", views.AuditEventListView.as_view(), name="audit-event-list"),
]
