"""SigV4 signing with credentials from the standard AWS chain (env, profile, config, IMDS)."""

from __future__ import annotations

from collections.abc import Mapping

import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError

from opentrail.client._errors import IngestAuthError

__all__ = ["DEFAULT_REGION", "SERVICE", "Signer"]

SERVICE = "opentrail"
DEFAULT_REGION = "us-east-1"


class Signer:
    """Signs requests with botocore's own SigV4 code; never logs or exposes the secret."""

    def __init__(self, session: botocore.session.Session | None = None,
                 region: str | None = None) -> None:
        session = session or botocore.session.Session()
        try:
            credentials = session.get_credentials()
            self.region: str = region or session.get_config_variable("region") or DEFAULT_REGION
        except BotoCoreError as exc:  # e.g. ProfileNotFound, a broken config file
            raise IngestAuthError("InvalidConfiguration", str(exc)) from exc
        if credentials is None:
            raise IngestAuthError(
                "NoCredentials",
                "No AWS credentials were found. Set AWS_ACCESS_KEY_ID and "
                "AWS_SECRET_ACCESS_KEY, or name a profile with --profile / AWS_PROFILE.",
            )
        # Kept unfrozen: refreshable credentials (SSO, assumed roles) renew themselves.
        self._credentials = credentials

    def sign(self, method: str, url: str, headers: Mapping[str, str],
             body: bytes) -> dict[str, str]:
        """The headers to send: `headers` plus X-Amz-Date, Authorization (and token)."""
        request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
        # Frozen per request, as botocore's RequestSigner does, so a refresh cannot mix keys.
        frozen = self._credentials.get_frozen_credentials()
        SigV4Auth(frozen, SERVICE, self.region).add_auth(request)
        return {str(k): str(v) for k, v in request.headers.items()}
