"""Who starts a run, and what they may ask of it.

Every entry point (the app's socket, REST/SSE, the OpenAI-compatible endpoint, a widget's socket)
starts runs through one `apps.runs.start.run_start(principal, request)`. What differs between a
signed-in member, a program holding an API key and a widget's visitor is a principal with its
`Policy`, never a second pipeline:

- `Policy` says which versions it may run (a widget: the published or pinned one only), whether
  its inputs are a message only, and whether the session's history is read for the run.
- `Principal.admit` runs in the run start's database thread before the reads: it checks the
  principal's own limits (a widget's per-visitor and per-IP rates, its daily tokens) and fills in
  what the principal decides itself (a widget picks its flow, version and conversation).
- `Principal.role_in` is access: the role the principal has in the flow's organization.
- `Principal.rows` are the rows written with the run, in the same statement (a widget's visitor,
  conversation and the run's widget link).

The organization's own budget and rate limit are checked once, for everyone, by the run start
(apps.serving.accounting.Meter, from the run start's one read).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from uuid import UUID

from apps.config.errors import Forbidden, InvalidInput
from apps.runs.models import Run
from apps.tenancy.access import Actor, actor_role, api_key_check_run
from apps.tenancy.http_auth import authenticate_sync

if TYPE_CHECKING:
    from django.contrib.auth.models import User
    from django.db.models import Model
    from django.http import HttpRequest

    from apps.runs.models import ChatSession
    from apps.tenancy.models import ApiKey

Version = int | str  # a number, "draft" or "published"


@dataclass
class RunRequest:
    flow: UUID | None  # None: the principal picks it (a widget's visitor names no flow)
    version: Version = "published"
    inputs: dict[str, Any] = field(default_factory=dict)
    session: UUID | None = None
    source: str = Run.Source.PLAYGROUND
    ref: str | None = None
    organization: UUID | None = None  # the organization the caller names (URL); None: the flow's
    # Earlier turns the caller sent with its request, [(role "user"|"assistant", text)], oldest first
    # (the OpenAI-compatible endpoint's `messages`): the run's memory instead of a session's.
    history: list[tuple[str, str]] | None = None


@dataclass(frozen=True)
class Policy:
    """What a principal may ask of a run."""

    draft: bool = True  # may run the draft (the editor role is still required)
    numbered: bool = True  # may name a version by its number
    message_only: bool = False  # inputs are {"message": text} and nothing else
    memory: bool = True  # the session's history is read for the run

    def check(self, request: RunRequest) -> None:
        if request.version == "draft" and not self.draft:
            raise Forbidden("Only the published version can run here.", code="published_only")
        if isinstance(request.version, int) and not self.numbered:
            raise Forbidden("Only the published version can run here.", code="published_only")
        message = request.inputs.get("message")
        if self.message_only and (set(request.inputs) - {"message"} or not isinstance(message, str)):
            raise InvalidInput("Only a text message can be sent here.", code="message_only")


MEMBER_POLICY = Policy()


class Principal:
    """Who starts a run. The base is an Actor's (a member, or a program with an API key)."""

    policy: Policy = MEMBER_POLICY

    def __init__(self, actor: Actor) -> None:
        self.actor = actor

    @property
    def user(self) -> User | None:
        return self.actor.user if self.actor.api_key is None else None

    @property
    def api_key(self) -> ApiKey | None:
        return self.actor.api_key

    @property
    def widget_id(self) -> UUID | None:
        """The widget whose visitor this is (its model budget applies, its calls are ledgered
        with it); None for members and API keys."""
        return None

    def admit(self, request: RunRequest) -> RunRequest:
        """The principal's own checks and choices, before the run start's reads (database thread).
        Raises TrellisError to refuse; nothing is written on a refusal."""
        api_key_check_run(self.actor, request.flow)  # a read-only key, or one limited to other flows
        return request

    def role_in(self, organization_id: UUID, member_role: str | None) -> str | None:
        """The principal's role in the flow's organization (None: no access; the flow is not
        found). `member_role` is the user's membership there, read with the run start."""
        return actor_role(self.actor, organization_id, member_role)

    def rows(self, run: Run, session: ChatSession, new_session: bool) -> list[Model]:
        """More rows written with the run, in the same statement."""
        return []


def principal_of(actor: Actor) -> Principal:
    """A signed-in member, or a program holding an API key (the same rules: access by role)."""
    return Principal(actor)


class HttpCaller(Principal):
    """The caller of a plain async view (apps.tenancy.http_auth: an API key, or a session that
    passes the CSRF check), authenticated inside the run start's one database trip instead of a
    trip of its own. `source`: the run's source for an API key's and for a session's run."""

    def __init__(self, http: HttpRequest, *, sessions: bool = True, source: tuple[str, str] | None = None) -> None:
        super().__init__(Actor(user=None, api_key=None))
        self.http, self.sessions = http, sessions
        self.source = source or (Run.Source.API, Run.Source.PLAYGROUND)

    def admit(self, request: RunRequest) -> RunRequest:
        self.actor = authenticate_sync(self.http, sessions=self.sessions)  # NotAuthenticated, CsrfFailed, ...
        request.source = self.source[0] if self.actor.api_key is not None else self.source[1]
        return super().admit(request)  # the key's own limits (scope, flows)
