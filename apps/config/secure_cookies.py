"""Session and CSRF cookies are `Secure` whenever the request came over HTTPS (and always with
TRELLIS_ENV=production), not only in production mode: an instance served over TLS never hands a
browser a cookie it would also send over plain HTTP. Behind a TLS-ending proxy, the scheme comes
from uvicorn, which reads X-Forwarded-Proto only from TRELLIS_TRUSTED_PROXIES."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from apps.config.hybrid_middleware import HybridMiddleware


def _secure(request: HttpRequest, response: HttpResponseBase) -> HttpResponseBase:
    if request.is_secure():
        for name in (settings.SESSION_COOKIE_NAME, settings.CSRF_COOKIE_NAME):
            if name in response.cookies:
                response.cookies[name]["secure"] = True
    return response


class SecureCookiesOverHttpsMiddleware(HybridMiddleware):
    def __call__(self, request: HttpRequest) -> Any:
        if self.is_async:
            return self._acall(request)
        return _secure(request, self.get_response(request))

    async def _acall(self, request: HttpRequest) -> HttpResponseBase:
        return _secure(request, await self.get_response(request))
