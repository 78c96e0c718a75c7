"""The dispatch cache in front of moto: requests are answered by the app moto chooses, moto's
locked dispatcher is asked once per (service, region), S3 and unsigned requests every time."""

from __future__ import annotations

import io
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from xaccount_ops.local.dispatch import CachedDispatch


class Counting(DomainDispatcherApplication):
    """moto's dispatcher, counting how often it is asked."""

    def __init__(self) -> None:
        super().__init__(create_backend_app)
        self.asked = 0

    def get_application(self, environ: dict[str, Any]) -> Any:
        self.asked += 1
        return super().get_application(environ)


def request(service: str, *, method: str = "POST", path: str = "/", target: str = "") -> dict:
    body = b"{}" if method == "POST" else b""
    env = {
        "REQUEST_METHOD": method,
        "PATH_INFO": path,
        "QUERY_STRING": "",
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "5000",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_HOST": "127.0.0.1:5000",
        "wsgi.url_scheme": "http",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": io.StringIO(),
        "CONTENT_LENGTH": str(len(body)),
        "CONTENT_TYPE": "application/x-amz-json-1.1",
    }
    if service:
        env["HTTP_AUTHORIZATION"] = (
            f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260101/us-east-1/{service}/aws4_request,"
            " SignedHeaders=host, Signature=x"
        )
    if target:
        env["HTTP_X_AMZ_TARGET"] = target
    return env


def call(app: CachedDispatch, env: dict) -> str:
    statuses: list[str] = []
    body = b"".join(app(env, lambda status, headers, *a: statuses.append(status)))
    assert body is not None
    return statuses[0]


def test_a_signed_service_asks_moto_once_and_is_answered_by_moto_s_app() -> None:
    moto = Counting()
    cached = CachedDispatch(moto)
    describe = "Logs_20140328.DescribeLogGroups"

    first = call(cached, request("logs", target=describe))
    second = call(cached, request("logs", target=describe))

    assert first.startswith("200") and second.startswith("200")
    assert moto.asked == 1


def test_s3_and_unsigned_requests_always_go_through_moto() -> None:
    moto = Counting()
    cached = CachedDispatch(moto)

    for _ in range(2):
        call(cached, request("s3", method="GET"))
        call(cached, request("", method="GET", path="/favicon.ico"))

    assert moto.asked == 4
