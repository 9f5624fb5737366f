"""S3-compatible buckets as a knowledge source: list and fetch with boto3, every request sent
through the instance's outbound policy.

boto3 builds and signs the requests (SigV4, path-style or virtual-hosted addressing, pagination,
error parsing); its own HTTP stack never connects anywhere: a `before-send` hook hands each signed
request to `apps.serving.egress.vetted_get_sync` (the host resolved and vetted, the connection
pinned to that address, no redirects, the answer capped) and gives boto3 the answer back. Only
GET is ever sent (ListObjectsV2, GetObject). Credentials are stored Fernet-encrypted on the
source (`credentials_encrypted`, apps.config.crypto); none means an anonymous, unsigned client.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from apps.config.crypto import decrypt, encrypt

FETCH_TIMEOUT_S = 20.0
LIST_PAGE = 1000


class BucketFailed(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class BucketObject:
    key: str
    etag: str
    modified: str
    size: int


def credentials_seal(access_key_id: str, secret_access_key: str) -> str:
    if not access_key_id and not secret_access_key:
        return ""
    return encrypt(json.dumps({"access_key_id": access_key_id, "secret_access_key": secret_access_key}))


def _credentials(sealed: str) -> tuple[str, str] | None:
    if not sealed:
        return None
    pair = json.loads(decrypt(sealed))
    return str(pair["access_key_id"]), str(pair["secret_access_key"])


class _Body(io.BytesIO):
    """What botocore reads an answer from (`stream()` for parsed bodies, `read()` for GetObject)."""

    def stream(self, amt: int = 65536, decode_content: bool = True) -> Iterator[bytes]:
        while chunk := self.read(amt):
            yield chunk


class Bucket:
    def __init__(
        self,
        *,
        bucket: str,
        endpoint_url: str = "",
        region: str = "",
        path_style: bool = False,
        credentials: str = "",
        max_body_bytes: int | None = None,
    ) -> None:
        import boto3
        from botocore import UNSIGNED
        from botocore.config import Config

        from apps.serving.egress import EgressPolicy

        self.bucket = bucket
        self.policy = EgressPolicy()
        self.max_body_bytes = max_body_bytes or settings.KNOWLEDGE_MAX_UPLOAD_MB * 1024 * 1024
        keys = _credentials(credentials)
        config = Config(
            s3={"addressing_style": "path" if path_style else "virtual"},
            retries={"max_attempts": 1, "mode": "standard"},
            signature_version=None if keys else UNSIGNED,
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connect_timeout=FETCH_TIMEOUT_S,
            read_timeout=FETCH_TIMEOUT_S,
        )
        session = boto3.session.Session()
        self.client = session.client(
            "s3",
            endpoint_url=endpoint_url or None,
            region_name=region or "us-east-1",
            aws_access_key_id=keys[0] if keys else None,
            aws_secret_access_key=keys[1] if keys else None,
            config=config,
        )
        self.client.meta.events.register("before-send.s3", self._send)

    @classmethod
    def for_source(cls, source: Any) -> Bucket:
        return cls(
            bucket=source.bucket,
            endpoint_url=source.url,
            region=source.region,
            path_style=source.path_style,
            credentials=source.credentials_encrypted,
        )

    def _send(self, request: Any, **_: Any) -> Any:
        """botocore's request, sent through the egress policy; its answer as botocore's response."""
        from botocore.awsrequest import AWSResponse

        from apps.serving.egress import vetted_get_sync
        from flows.errors import EgressRefused

        if request.method != "GET":
            raise EgressRefused(f"An S3 source only reads; {request.method} is not sent.")
        headers = {
            str(name): value.decode() if isinstance(value, bytes) else str(value)
            for name, value in request.headers.items()
        }
        status, answer, body = vetted_get_sync(
            request.url,
            headers=headers,
            timeout=FETCH_TIMEOUT_S,
            policy=self.policy,
            max_body_bytes=self.max_body_bytes,
        )
        return AWSResponse(request.url, status, answer, _Body(body))

    def objects(self, prefix: str = "") -> Iterator[BucketObject]:
        """Every object under `prefix` (ListObjectsV2, page by page)."""
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            pages = self.client.get_paginator("list_objects_v2").paginate(
                Bucket=self.bucket, Prefix=prefix, PaginationConfig={"PageSize": LIST_PAGE}
            )
            for page in pages:
                for entry in page.get("Contents", []):
                    yield BucketObject(
                        key=str(entry["Key"]),
                        etag=str(entry.get("ETag", "")),
                        modified=entry["LastModified"].isoformat() if entry.get("LastModified") else "",
                        size=int(entry.get("Size", 0)),
                    )
        except ClientError as exc:
            raise BucketFailed(*_client_error(exc, self.bucket)) from None
        except BotoCoreError as exc:
            raise BucketFailed("bucket_error", f"The bucket cannot be listed: {exc}") from None

    def read(self, key: str) -> bytes:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            answer = self.client.get_object(Bucket=self.bucket, Key=key)
            return bytes(answer["Body"].read())
        except ClientError as exc:
            raise BucketFailed(*_client_error(exc, self.bucket)) from None
        except BotoCoreError as exc:
            raise BucketFailed("bucket_error", f"The object cannot be read: {exc}") from None


def _client_error(exc: Any, bucket: str) -> tuple[str, str]:
    error = exc.response.get("Error", {})
    code = str(error.get("Code", ""))
    status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    if code == "NoSuchBucket":
        return "bucket_not_found", f"There is no bucket called {bucket} at this endpoint."
    if code == "SignatureDoesNotMatch":
        return "bucket_access_denied", "The bucket refused the secret access key: it does not match the access key ID."
    if code == "InvalidAccessKeyId":
        return "bucket_access_denied", "The bucket does not know this access key ID; check the key pair."
    if code in ("AccessDenied", "AllAccessDisabled") or status in (401, 403):
        return (
            "bucket_access_denied",
            f"The bucket refused this access key ({code or status}): check the key pair, and that it may list and "
            "read the bucket.",
        )
    if code in ("NoSuchKey",) or status == 404:
        return "not_found", "The object is gone."
    if status >= 500:
        return "server_error", f"The bucket answered {status}."
    return "bucket_error", f"The bucket answered {code or status}: {error.get('Message', '')}"[:300]
