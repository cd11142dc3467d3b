"""Sending one delivery to its target: webhooks (API destinations, Slack, Teams), SNS, SMTP.

Invariant: `Transport.send` either returns (delivered), raises `Throttled` (an API
destination's InvocationRateLimitPerSecond: not sent, try later) or raises `SendError`
saying whether a retry may help (EventBridge retries timeouts, connection errors, 401,
407, 409, 429 and 5xx; other answers are final). Outbound HTTP never follows a redirect
to another host and gives up after TIMEOUT seconds. Secrets are read from the store only
here and never logged. HTTP goes through one urllib3 pool (about half the CPU per request
of httpx's: the sender's requests are the rules' process's largest cost under load).
"""

from __future__ import annotations

import base64
import smtplib
import threading
from email.message import EmailMessage
from typing import Any, NamedTuple
from urllib.parse import unquote, urlencode, urljoin, urlsplit

import certifi
import orjson
import urllib3

from opentrail.rules._model import Connection, Delivery
from opentrail.rules._pace import Pacer
from opentrail.rules._store import RuleStore
from opentrail.rules._targets import destination_name, kind_of
from opentrail.rules._transform import payload

__all__ = ["TIMEOUT", "SendError", "Transport", "summary"]

TIMEOUT = 5.0  # EventBridge's API destination timeout
RETRYABLE = {401, 407, 409, 429}
MAX_REDIRECTS = 3
REDIRECTS = {301, 302, 303, 307, 308}
POOL = 8  # connections kept per host: the sender's worker threads


class SendError(Exception):
    def __init__(self, message: str, *, retryable: bool) -> None:
        super().__init__(message)
        self.retryable = retryable


def summary(event: dict[str, Any], rule: str) -> str:
    """One line for chat and e-mail: what happened, who did it, where, when."""
    detail = event.get("detail") if isinstance(event.get("detail"), dict) else {}
    assert isinstance(detail, dict)
    who = (detail.get("userIdentity") or {}).get("arn") or (
        detail.get("userIdentity") or {}).get("type") or "someone"
    what = detail.get("eventName") or detail.get("ruleTitle") or "an event"
    return (f"{event.get('detail-type')}: {what} by {who} in account {event.get('account')} "
            f"({event.get('region')}) at {event.get('time')} - rule {rule}")


class Reply(NamedTuple):
    """One HTTP answer: what `_check` and the callers read of it."""

    status: int
    url: str
    location: str | None
    body: bytes


class Transport:
    """Sends deliveries; one per sender, used from its worker threads."""

    def __init__(self, store: RuleStore, *, sns_endpoint_url: str = "", smtp_url: str = "",
                 mail_from: str = "opentrail@localhost") -> None:
        self._store = store
        self._sns_endpoint_url, self._smtp_url, self._mail_from = (sns_endpoint_url, smtp_url,
                                                                    mail_from)
        self._http = urllib3.PoolManager(
            maxsize=POOL, retries=False, ca_certs=certifi.where(),
            timeout=urllib3.Timeout(connect=TIMEOUT, read=TIMEOUT))
        self._tokens: dict[tuple[str, float], str] = {}
        self._lock = threading.Lock()
        self._sns: dict[str, Any] = {}
        self._pacer = Pacer()

    def close(self) -> None:
        self._http.clear()

    def send(self, delivery: Delivery) -> None:
        arn = str(delivery.target.get("Arn", ""))
        kind = kind_of(arn)
        rule_arn = (f"arn:aws:events:{delivery.region}:{delivery.account}:rule/"
                    f"{delivery.rule}")
        text = payload(delivery.target, delivery.event, rule_arn)
        if kind == "api-destination":
            self._api_destination(delivery, arn, text)
        elif kind in ("slack", "teams"):
            self._chat(kind, arn.split(":", 1)[1], delivery, text)
        elif kind == "sns":
            self._publish(arn, text)
        elif kind == "email":
            self._mail(arn.removeprefix("mailto:"), delivery, text)
        else:
            raise SendError(f"OpenTrail cannot deliver to {arn!r}.", retryable=False)

    # -- HTTP --------------------------------------------------------------------------------

    def _request(self, method: str, url: str, *, params: dict[str, str] | None = None,
                 headers: dict[str, str] | None = None, content: bytes | None = None,
                 form: dict[str, str] | None = None) -> Reply:
        """One request; redirects followed only within the same scheme, host and port
        (303, and 301/302 after a POST, continue as a GET without the body)."""
        origin = urlsplit(url)[:2]
        headers = dict(headers or {})
        if params:
            url += ("&" if urlsplit(url).query else "?") + urlencode(params)
        if form is not None:
            content = urlencode(form).encode()
            headers.setdefault("Content-Type", "application/x-www-form-urlencoded")
        for _ in range(MAX_REDIRECTS + 1):
            reply = self._once(method, url, headers, content)
            if reply.status not in REDIRECTS or reply.location is None:
                return reply
            url = urljoin(url, reply.location)
            if urlsplit(url)[:2] != origin:
                raise SendError(f"{_safe(reply.url)} redirected to another host "
                                f"({_safe(url)}); not followed.", retryable=False)
            if reply.status == 303 or (reply.status in (301, 302) and method == "POST"):
                method, content = ("GET" if method != "HEAD" else method), None
                headers.pop("Content-Type", None)
        raise SendError(f"Too many redirects from {_safe(url)}.", retryable=False)

    def _once(self, method: str, url: str, headers: dict[str, str],
              content: bytes | None) -> Reply:
        try:
            response = self._http.request(method, url, body=content, headers=headers,
                                          redirect=False)
        except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
            raise SendError(f"{type(exc).__name__} calling {_safe(url)}",
                            retryable=True) from None
        return Reply(response.status, url, response.headers.get("Location"), response.data)

    def _check(self, response: Reply) -> None:
        status = response.status
        if 200 <= status < 300:
            return
        retry = status in RETRYABLE or status >= 500
        raise SendError(f"HTTP {status} from {_safe(response.url)}", retryable=retry)

    def _api_destination(self, delivery: Delivery, arn: str, text: str) -> None:
        _, _, name = destination_name(arn)
        dest = self._store.destination(delivery.account, delivery.region, name)
        if dest is None:
            raise SendError(f"API destination {arn} no longer exists.", retryable=False)
        conn_name = dest.connection_arn.rsplit("/", 2)[-2]
        conn = self._store.connection(delivery.account, delivery.region, conn_name)
        if conn is None:
            raise SendError(f"Connection {dest.connection_arn} no longer exists.",
                            retryable=False)
        auth = self._store.secrets(conn)
        headers, query, body = _http_parameters(auth.get("InvocationHttpParameters"))
        headers.update(self._auth_headers(conn, auth))
        target_http = delivery.target.get("HttpParameters") or {}
        headers.update(target_http.get("HeaderParameters") or {})
        query.update(target_http.get("QueryStringParameters") or {})
        url = _fill_path(dest.endpoint, target_http.get("PathParameterValues") or [])
        content = _with_body_parameters(text, body)
        headers.setdefault("Content-Type", "application/json; charset=utf-8")
        self._pacer.wait(dest.arn, dest.rate)  # InvocationRateLimitPerSecond
        response = self._request(dest.method, url, params=query, headers=headers,
                                 content=content if dest.method not in ("GET", "HEAD")
                                 else None)
        if response.status == 401:
            self._forget(conn)
        self._check(response)

    def _auth_headers(self, conn: Connection, auth: dict[str, Any]) -> dict[str, str]:
        if conn.auth_type == "BASIC":
            basic = auth["BasicAuthParameters"]
            pair = f"{basic['Username']}:{basic['Password']}".encode()
            return {"Authorization": "Basic " + base64.b64encode(pair).decode()}
        if conn.auth_type == "API_KEY":
            key = auth["ApiKeyAuthParameters"]
            return {str(key["ApiKeyName"]): str(key["ApiKeyValue"])}
        return {"Authorization": "Bearer " + self._token(conn, auth["OAuthParameters"])}

    def _token(self, conn: Connection, oauth: dict[str, Any]) -> str:
        """OAuth client credentials: fetched once per connection version, then cached."""
        key = (conn.arn, conn.modified)
        with self._lock:
            token = self._tokens.get(key)
        if token is not None:
            return token
        client = oauth["ClientParameters"]
        headers, query, body = _http_parameters(oauth.get("OAuthHttpParameters"))
        pair = f"{client['ClientID']}:{client['ClientSecret']}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(pair).decode()
        form = {"grant_type": "client_credentials", **{k: str(v) for k, v in body.items()}}
        method = str(oauth.get("HttpMethod", "POST"))
        response = self._request(method, str(oauth["AuthorizationEndpoint"]), params=query,
                                 headers=headers, form=form if method != "GET" else None)
        self._check(response)
        try:
            token = str(orjson.loads(response.body)["access_token"])
        except (ValueError, KeyError, TypeError):
            raise SendError("The OAuth endpoint's answer has no access_token.",
                            retryable=True) from None
        with self._lock:
            self._tokens[key] = token
        return token

    def _forget(self, conn: Connection) -> None:
        with self._lock:
            self._tokens.pop((conn.arn, conn.modified), None)

    def _chat(self, kind: str, url: str, delivery: Delivery, text: str) -> None:
        """Slack's incoming-webhook body is {"text"}; Teams' is a MessageCard."""
        message = _plain(text) if _transformed(delivery.target) else summary(
            delivery.event, delivery.rule)
        body: dict[str, Any] = {"text": message}
        if kind == "teams":
            body = {"@type": "MessageCard", "@context": "https://schema.org/extensions",
                    "summary": message[:80], "title": f"OpenTrail rule {delivery.rule}",
                    "text": message}
        self._check(self._request("POST", url, content=orjson.dumps(body),
                                  headers={"Content-Type": "application/json"}))

    # -- SNS and SMTP ------------------------------------------------------------------------

    def _publish(self, arn: str, text: str) -> None:
        region = arn.split(":")[3]
        try:
            self._sns_client(region).publish(TopicArn=arn, Message=text)
        except Exception as exc:  # botocore's errors: the topic or the endpoint
            code = getattr(exc, "response", {}).get("Error", {}).get("Code", "")
            raise SendError(f"SNS publish to {arn} failed: {code or type(exc).__name__}",
                            retryable=code not in ("NotFound", "NotFoundException",
                                                   "InvalidParameter")) from None

    def _sns_client(self, region: str) -> Any:
        with self._lock:
            client = self._sns.get(region)
            if client is None:
                import boto3

                client = boto3.client("sns", region_name=region,
                                      endpoint_url=self._sns_endpoint_url or None)
                self._sns[region] = client
            return client

    def _mail(self, to: str, delivery: Delivery, text: str) -> None:
        if not self._smtp_url:
            raise SendError("No --smtp-url is configured for e-mail targets.", retryable=True)
        message = EmailMessage()
        message["From"], message["To"] = self._mail_from, to
        message["Subject"] = "[OpenTrail] " + summary(delivery.event, delivery.rule)[:150]
        message.set_content(_plain(text) if _transformed(delivery.target)
                            else orjson.dumps(delivery.event,
                                              option=orjson.OPT_INDENT_2).decode())
        try:
            with _smtp(self._smtp_url) as smtp:
                smtp.send_message(message)
        except (OSError, smtplib.SMTPException) as exc:
            raise SendError(f"SMTP: {type(exc).__name__}: {exc}", retryable=True) from None


def _smtp(url: str) -> smtplib.SMTP:
    """smtp://[user:password@]host[:port] (STARTTLS when offered) or smtps://..."""
    parts = urlsplit(url)
    host, port = parts.hostname or "localhost", parts.port
    if parts.scheme == "smtps":
        smtp: smtplib.SMTP = smtplib.SMTP_SSL(host, port or 465, timeout=TIMEOUT)
    else:
        smtp = smtplib.SMTP(host, port or 25, timeout=TIMEOUT)
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls()
    if parts.username:
        smtp.login(unquote(parts.username), unquote(parts.password or ""))
    return smtp


def _http_parameters(raw: Any) -> tuple[dict[str, str], dict[str, str], dict[str, Any]]:
    """Connection HTTP parameters: headers, query string, body members."""
    out: list[dict[str, Any]] = [{}, {}, {}]
    if isinstance(raw, dict):
        for i, key in enumerate(("HeaderParameters", "QueryStringParameters",
                                 "BodyParameters")):
            for item in raw.get(key) or []:
                if isinstance(item, dict) and "Key" in item:
                    out[i][str(item["Key"])] = item.get("Value", "")
    return out[0], out[1], out[2]


def _with_body_parameters(text: str, body: dict[str, Any]) -> bytes:
    if not body:
        return text.encode()
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text.encode()
    if isinstance(value, dict):
        value.update(body)
    return orjson.dumps(value)


def _fill_path(endpoint: str, values: list[Any]) -> str:
    for value in values:
        endpoint = endpoint.replace("*", str(value), 1)
    return endpoint


def _transformed(target: dict[str, Any]) -> bool:
    return any(k in target for k in ("Input", "InputPath", "InputTransformer"))


def _plain(text: str) -> str:
    """A JSON string literal becomes its text; anything else is kept."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return text
    return value if isinstance(value, str) else text


def _safe(url: str) -> str:
    """The URL's origin only: a path (Slack's), query string or user info may hold secrets."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.hostname}{':' + str(parts.port) if parts.port else ''}"
