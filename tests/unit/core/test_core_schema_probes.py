"""Healthcheck options for the probes: method, headers, TLS CA and client certificate."""

from __future__ import annotations

from typing import Any, Dict, List

import pytest
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema


def check_of(body: Dict[str, Any]) -> schema.HealthCheck:
    return schema.parse_config({"healthchecks": {"c": body}}).healthchecks["c"]


def errors_of(body: Dict[str, Any]) -> List[str]:
    return schema.validate({"healthchecks": {"c": body}})


def test_http_defaults_leave_method_and_headers_unset():
    check = check_of({"type": "http"})
    assert (check.method, check.headers) == (None, ())
    assert (check.tls_ca_file, check.tls_client_cert, check.tls_client_key) == (None, None, None)


@pytest.mark.parametrize("given, expected", [("GET", "GET"), ("HEAD", "HEAD"), ("head", "HEAD")])
def test_method_accepted(given, expected):
    assert check_of({"type": "http", "method": given}).method == expected


def test_headers_keep_order_and_trim_value_whitespace():
    check = check_of({"type": "https", "headers": {"X-Probe": " yes ", "Accept": "text/plain", "X-Empty": ""}})
    assert check.headers == (("X-Probe", "yes"), ("Accept", "text/plain"), ("X-Empty", ""))


def test_tls_files_accepted():
    check = check_of(
        {"type": "https", "tls_ca_file": "/etc/ca.pem", "tls_client_cert": "/c.pem", "tls_client_key": "/k.pem"}
    )
    assert (check.tls_ca_file, check.tls_client_cert, check.tls_client_key) == ("/etc/ca.pem", "/c.pem", "/k.pem")


@pytest.mark.parametrize(
    "body, expected",
    [
        pytest.param(
            {"type": "http", "method": "post"},
            ['healthchecks.c.method: must be one of GET, HEAD, got string "post"'],
            id="method-post",
        ),
        pytest.param(
            {"type": "http", "method": 1},
            ["healthchecks.c.method: must be one of GET, HEAD, got integer 1"],
            id="method-int",
        ),
        pytest.param(
            {"type": "http", "method": "HEAD", "body_regex": "ok"},
            ["healthchecks.c.body_regex: a HEAD response has no body to match"],
            id="head-with-body-regex",
        ),
        pytest.param(
            {"type": "tcp", "port": 22, "method": "GET"},
            ["healthchecks.c.method: not used by type tcp"],
            id="method-tcp",
        ),
        pytest.param(
            {"type": "icmp", "headers": {"X-A": "b"}},
            ["healthchecks.c.headers: not used by type icmp"],
            id="headers-icmp",
        ),
        pytest.param(
            {"type": "http", "headers": ["X-A: b"]},
            ["healthchecks.c.headers: must be a mapping, got a list"],
            id="headers-list",
        ),
        pytest.param(
            {"type": "http", "headers": {"X A": "b"}},
            ["healthchecks.c.headers: 'X A' is not a valid header name"],
            id="name-space",
        ),
        pytest.param(
            {"type": "http", "headers": {"X-A:": "b"}},
            ["healthchecks.c.headers: 'X-A:' is not a valid header name"],
            id="name-colon",
        ),
        pytest.param(
            {"type": "http", "headers": {"X-A\r\nEvil": "b"}},
            ["healthchecks.c.headers: 'X-A\\r\\nEvil' is not a valid header name"],
            id="name-crlf",
        ),
        pytest.param(
            {"type": "http", "headers": {"X-A": "b\r\nX-Evil: 1"}},
            ["healthchecks.c.headers.X-A: must not contain control characters (CR, LF, ...)"],
            id="value-crlf",
        ),
        pytest.param(
            {"type": "http", "headers": {"X-A": "b\nc"}},
            ["healthchecks.c.headers.X-A: must not contain control characters (CR, LF, ...)"],
            id="value-lf",
        ),
        pytest.param(
            {"type": "http", "headers": {"X-A": "b\x00"}},
            ["healthchecks.c.headers.X-A: must not contain control characters (CR, LF, ...)"],
            id="value-nul",
        ),
        pytest.param(
            {"type": "http", "headers": {"X-A": 5}},
            ["healthchecks.c.headers.X-A: must be a string, got integer 5"],
            id="value-int",
        ),
        pytest.param(
            {"type": "http", "headers": {"Host": "a"}},
            ["healthchecks.c.headers.Host: cannot be set, use the host option"],
            id="host",
        ),
        pytest.param(
            {"type": "http", "headers": {"content-length": "0", "Connection": "keep-alive"}},
            [
                "healthchecks.c.headers.content-length: cannot be set, the probe sets it",
                "healthchecks.c.headers.Connection: cannot be set, the probe sets it",
            ],
            id="framing",
        ),
        pytest.param(
            {"type": "http", "headers": {"X-A": "1", "x-a": "2"}},
            ["healthchecks.c.headers.x-a: repeats header X-A"],
            id="duplicate-by-case",
        ),
        pytest.param(
            {"type": "http", "tls_ca_file": "/ca.pem"},
            ["healthchecks.c.tls_ca_file: not used by type http"],
            id="ca-on-http",
        ),
        pytest.param(
            {"type": "https", "tls_ca_file": "ca.pem"},
            ['healthchecks.c.tls_ca_file: "ca.pem" must be an absolute path'],
            id="ca-relative",
        ),
        pytest.param(
            {"type": "https", "tls_ca_file": ""},
            ["healthchecks.c.tls_ca_file: must not be empty"],
            id="ca-empty",
        ),
        pytest.param(
            {"type": "https", "tls_insecure": True, "tls_ca_file": "/ca.pem"},
            ["healthchecks.c.tls_ca_file: not used with tls_insecure: true (nothing is verified)"],
            id="ca-insecure",
        ),
        pytest.param(
            {"type": "https", "tls_client_cert": "/c.pem"},
            ["healthchecks.c.tls_client_key: required with tls_client_cert"],
            id="cert-without-key",
        ),
        pytest.param(
            {"type": "https", "tls_client_key": "/k.pem"},
            ["healthchecks.c.tls_client_cert: required with tls_client_key"],
            id="key-without-cert",
        ),
        pytest.param(
            {"type": "https", "tls_client_cert": "c.pem", "tls_client_key": "/k.pem"},
            ['healthchecks.c.tls_client_cert: "c.pem" must be an absolute path'],
            id="cert-relative",
        ),
    ],
)
def test_probe_option_errors(body, expected):
    assert errors_of(body) == expected


def test_client_certificate_with_insecure_is_allowed():
    # A server can demand a client certificate even when the agent does not verify the server.
    check = check_of({"type": "https", "tls_insecure": True, "tls_client_cert": "/c", "tls_client_key": "/k"})
    assert check.tls_insecure and check.tls_client_cert == "/c"


@pytest.mark.parametrize("name, value, expected", [
    ("X-Api-Key", 738291046615, "must be a string (quote it), got int"),
    ("Authorization", 738291046615.5, "must be a string (quote it), got float"),
    ("X-Session", True, "must be a string (quote it), got bool"),
    ("X-Trace", 738291046615, "must be a string, got integer 738291046615"),  # no credential: shown
])
def test_a_credential_header_that_is_not_a_string_is_never_echoed(name, value, expected):
    assert errors_of({"type": "http", "headers": {name: value}}) == [f"healthchecks.c.headers.{name}: {expected}"]
