"""The sign-in throttle: failures counted per account and per client IP (apps.config.client_ip,
so `X-Forwarded-For` counts only from a trusted proxy), with exponential back-off.

After FREE_ACCOUNT_FAILURES wrong passwords for one username (or FREE_IP_FAILURES from one IP,
whatever the usernames) every further failure locks that account / IP for twice as long as the
last, from 1 s up to MAX_LOCK_S. While locked, a sign-in is refused (429, Retry-After) before the
password is even checked, so guesses during a lock teach nothing. A success clears the account's
count (not the IP's: one known password must not buy more guesses at other accounts). Counts live
in the cache every web worker of the host shares (the file cache in the data folder) and are
forgotten after WINDOW_S without failures. An account's lock is audited in its organizations.
"""

from __future__ import annotations

import hashlib
import logging
import math
import time
from dataclasses import dataclass

from django.core.cache import cache

logger = logging.getLogger(__name__)

FREE_ACCOUNT_FAILURES = 5
FREE_IP_FAILURES = 20
MAX_LOCK_S = 900.0
WINDOW_S = 3600


@dataclass(frozen=True)
class Failure:
    """What one more failure did: how long each counter is now locked for (0: not locked)."""

    account_failures: int
    account_lock_s: float
    ip_lock_s: float


def _account_key(username: str) -> str:
    return "login-fail:acct:" + hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


def _ip_key(ip: str) -> str:
    return f"login-fail:ip:{ip}"


def _lock_s(failures: int, free: int) -> float:
    over = failures - free
    return 0.0 if over <= 0 else min(MAX_LOCK_S, float(2 ** (over - 1)))


def retry_after(*, username: str, ip: str, now: float | None = None) -> int:
    """Seconds until a sign-in for `username` from `ip` may be tried (0: now)."""
    now = time.time() if now is None else now
    until = 0.0
    for key in (_account_key(username), _ip_key(ip)):
        state = cache.get(key)
        if state is not None:
            until = max(until, float(state["until"]))
    return math.ceil(until - now) if until > now else 0


def record_failure(*, username: str, ip: str, now: float | None = None) -> Failure:
    now = time.time() if now is None else now
    locks = []
    account_failures = 0
    for key, free in ((_account_key(username), FREE_ACCOUNT_FAILURES), (_ip_key(ip), FREE_IP_FAILURES)):
        state = cache.get(key) or {"n": 0, "until": 0.0}
        state["n"] += 1
        lock = _lock_s(state["n"], free)
        state["until"] = now + lock if lock else state["until"]
        cache.set(key, state, WINDOW_S)
        locks.append(lock)
        if key.startswith("login-fail:acct:"):
            account_failures = state["n"]
    if any(locks):
        logger.warning("sign-in throttled: username=%r ip=%s locks=%s", username[:150], ip, locks)
    return Failure(account_failures, locks[0], locks[1])


def record_success(*, username: str) -> None:
    cache.delete(_account_key(username))
