from __future__ import annotations

from apps.config.errors import TrellisError


class GuardBlocked(TrellisError):
    """A guard policy blocked the run's input; the message is the policy's, for the visitor."""

    status, code = 400, "guard_blocked"
