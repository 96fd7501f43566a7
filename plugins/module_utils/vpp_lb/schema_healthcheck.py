"""The ``healthchecks`` section of the schema: probe type, timing, and the HTTP(S) request and TLS
options (the agent's probes read the resulting ``HealthCheck``). Pure: stdlib only.
"""

from __future__ import annotations

import re
from typing import Any, Dict, List, Mapping, Optional, Tuple

from . import redact
from .schema_fields import FieldReader, describe, format_duration
from .schema_types import (
    DEFAULT_DOWN_INTERVAL,
    DEFAULT_EXPECT_STATUS,
    DEFAULT_FALL,
    DEFAULT_FAST_INTERVAL,
    DEFAULT_INTERVAL,
    DEFAULT_PORTS,
    DEFAULT_RISE,
    DEFAULT_TIMEOUT,
    HEALTHCHECK_COMMON_KEYS,
    HEALTHCHECK_KEYS,
    HEALTHCHECK_TYPES,
    HTTP_KEYS,
    HTTP_METHODS,
    HTTP_TYPES,
    HTTPS_KEYS,
    MAX_PORT,
    MAX_RISE_FALL,
    MIN_INTERVAL,
    MIN_PORT,
    MIN_TIMEOUT,
    RESERVED_HEADERS,
    HealthCheck,
)

_STATUS_RANGE_RE = re.compile(r"^\s*(\d{3})\s*(?:-\s*(\d{3})\s*)?$")
_HEADER_NAME_RE = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an RFC 9110 token
_HEADER_VALUE_BAD_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")  # controls except HTAB (CR, LF included)


class HealthCheckSection(FieldReader):
    """Reads one ``healthchecks`` entry into a ``HealthCheck``."""

    def healthcheck(self, name: str, value: Any) -> Optional[HealthCheck]:
        path = f"healthchecks.{name}"
        data = self.fields(value, path, HEALTHCHECK_KEYS, required=("type",))
        if data is None or "type" not in data:
            return None
        kind = self.choice(data["type"], f"{path}.type", HEALTHCHECK_TYPES)
        if kind is None:
            return None
        before = len(self.errors)

        # Options that exist but mean nothing for this type are errors, not silently ignored.
        allowed = set(HEALTHCHECK_COMMON_KEYS)
        if kind in HTTP_TYPES:
            allowed.update(HTTP_KEYS)
        if kind == "https":
            allowed.update(HTTPS_KEYS)
        if kind == "icmp":
            allowed.discard("port")
        for key in data:
            if key in HEALTHCHECK_KEYS and key not in allowed:
                self.error(f"{path}.{key}", f"not used by type {kind}")

        port: Optional[int] = DEFAULT_PORTS.get(kind)
        if "port" in data and kind != "icmp":
            port = self.integer(data["port"], f"{path}.port", MIN_PORT, MAX_PORT)
        elif kind == "tcp":
            self.error(f"{path}.port", "required for type tcp")

        interval = DEFAULT_INTERVAL
        if "interval" in data:
            interval = self.duration(data["interval"], f"{path}.interval", MIN_INTERVAL)
        # Derived defaults always satisfy the ordering rules below.
        base = interval if interval is not None else DEFAULT_INTERVAL
        fast_interval: Optional[float] = min(DEFAULT_FAST_INTERVAL, base)
        down_interval: Optional[float] = max(DEFAULT_DOWN_INTERVAL, base)
        timeout: Optional[float] = min(DEFAULT_TIMEOUT, base / 2)
        if "fast_interval" in data:
            fast_interval = self.duration(data["fast_interval"], f"{path}.fast_interval", MIN_INTERVAL)
        if "down_interval" in data:
            down_interval = self.duration(data["down_interval"], f"{path}.down_interval", MIN_INTERVAL)
        if "timeout" in data:
            timeout = self.duration(data["timeout"], f"{path}.timeout", MIN_TIMEOUT)
        if interval is not None:
            # A probe must finish before the next one is due at the normal pace.
            if timeout is not None and timeout >= interval:
                self.error(
                    f"{path}.timeout",
                    f"{format_duration(timeout)} must be shorter than interval {format_duration(interval)}",
                )
            if fast_interval is not None and fast_interval > interval:
                self.error(
                    f"{path}.fast_interval",
                    f"{format_duration(fast_interval)} must not be longer than interval"
                    f" {format_duration(interval)}",
                )
            if down_interval is not None and down_interval < interval:
                self.error(
                    f"{path}.down_interval",
                    f"{format_duration(down_interval)} must not be shorter than interval"
                    f" {format_duration(interval)}",
                )

        rise = DEFAULT_RISE
        fall = DEFAULT_FALL
        if "rise" in data:
            rise = self.integer(data["rise"], f"{path}.rise", 1, MAX_RISE_FALL)
        if "fall" in data:
            fall = self.integer(data["fall"], f"{path}.fall", 1, MAX_RISE_FALL)

        source_address = None
        if data.get("source_address") is not None:
            ip = self.address(data["source_address"], f"{path}.source_address", unicast=True)
            source_address = str(ip) if ip is not None else None

        http: Dict[str, Any] = {}
        if kind in HTTP_TYPES:
            http = self.http_options(data, path, kind)

        if len(self.errors) != before:
            return None
        return HealthCheck(
            name=name,
            type=kind,
            port=port,
            interval=interval,
            fast_interval=fast_interval,
            down_interval=down_interval,
            timeout=timeout,
            rise=rise,
            fall=fall,
            source_address=source_address,
            **http,
        )

    def http_options(self, data: Mapping, path: str, kind: str) -> Dict[str, Any]:
        options: Dict[str, Any] = {"path": "/", "expect_status": DEFAULT_EXPECT_STATUS}
        if "path" in data:
            value = self.string(data["path"], f"{path}.path")
            if value is not None and not value.startswith("/"):
                self.error(f"{path}.path", f'"{value}" must start with /')
            elif value is not None and re.search(r"\s", value):
                self.error(f"{path}.path", f'"{value}" must not contain whitespace')
            options["path"] = value
        if "host" in data:
            value = self.string(data["host"], f"{path}.host")
            if value is not None and re.search(r"\s", value):
                self.error(f"{path}.host", f'"{value}" must not contain whitespace')
            options["host"] = value
        if "expect_status" in data:
            options["expect_status"] = self.status_ranges(data["expect_status"], f"{path}.expect_status")
        if "body_regex" in data:
            value = self.string(data["body_regex"], f"{path}.body_regex")
            if value is not None:
                try:
                    re.compile(value)
                except re.error as exc:
                    self.error(f"{path}.body_regex", f"not a valid regular expression: {exc}")
            options["body_regex"] = value
        if "method" in data:
            method = data["method"]
            if isinstance(method, str) and method.upper() in HTTP_METHODS:
                method = method.upper()
            options["method"] = self.choice(method, f"{path}.method", HTTP_METHODS)
            if options["method"] == "HEAD" and "body_regex" in data:
                self.error(f"{path}.body_regex", "a HEAD response has no body to match")
        if "headers" in data:
            options["headers"] = self.http_headers(data["headers"], f"{path}.headers")
        if kind == "https":
            if "tls_server_name" in data:
                options["tls_server_name"] = self.string(data["tls_server_name"], f"{path}.tls_server_name")
            if "tls_insecure" in data:
                options["tls_insecure"] = self.boolean(data["tls_insecure"], f"{path}.tls_insecure")
            options.update(self.tls_files(data, path, bool(options.get("tls_insecure"))))
        return options

    def http_headers(self, value: Any, path: str) -> Tuple[Tuple[str, str], ...]:
        """Extra request headers: names are tokens, values single-line strings (no CR/LF)."""
        data = self.mapping(value, path)
        if data is None:
            return ()
        headers: List[Tuple[str, str]] = []
        seen: Dict[str, str] = {}
        for name, raw in data.items():
            if not isinstance(name, str) or not _HEADER_NAME_RE.match(name):
                self.error(path, f"{name!r} is not a valid header name")
                continue
            item_path = f"{path}.{name}"
            lower = name.lower()
            if lower in RESERVED_HEADERS:
                hint = ", use the host option" if lower == "host" else ", the probe sets it"
                self.error(item_path, f"cannot be set{hint}")
                continue
            if lower in seen:
                self.error(item_path, f"repeats header {seen[lower]}")
                continue
            seen[lower] = name
            if redact.is_secret_header(name) and not isinstance(raw, str):
                # A credential written unquoted (a numeric API key): name its kind, never its value.
                self.error(item_path, f"must be a string (quote it), got {type(raw).__name__}")
                continue
            text = self.string(raw, item_path, allow_empty=True)
            if text is None:
                continue
            if _HEADER_VALUE_BAD_RE.search(text):
                self.error(item_path, "must not contain control characters (CR, LF, ...)")
                continue
            headers.append((name, text.strip(" \t")))
        return tuple(headers)

    def tls_files(self, data: Mapping, path: str, insecure: bool) -> Dict[str, Any]:
        """tls_ca_file and the client certificate pair: absolute paths (read by the agent, not here)."""
        options: Dict[str, Any] = {}
        for key in ("tls_ca_file", "tls_client_cert", "tls_client_key"):
            if key in data:
                value = self.string(data[key], f"{path}.{key}")
                # The agent runs as a service: a relative path would depend on its working directory.
                if value is not None and not value.startswith("/"):
                    self.error(f"{path}.{key}", f'"{value}" must be an absolute path')
                options[key] = value
        if insecure and "tls_ca_file" in data:
            self.error(f"{path}.tls_ca_file", "not used with tls_insecure: true (nothing is verified)")
        for key, other in (("tls_client_cert", "tls_client_key"), ("tls_client_key", "tls_client_cert")):
            if key in data and other not in data:
                self.error(f"{path}.{other}", f"required with {key}")
        return options

    def status_ranges(self, value: Any, path: str) -> Tuple[Tuple[int, int], ...]:
        items = value if isinstance(value, list) else [value]
        if not items:
            self.error(path, "must list at least one status code")
        ranges: List[Tuple[int, int]] = []
        for index, item in enumerate(items):
            item_path = f"{path}[{index}]" if isinstance(value, list) else path
            if isinstance(item, int) and not isinstance(item, bool):
                low = high = item
            elif isinstance(item, str) and _STATUS_RANGE_RE.match(item):
                match = _STATUS_RANGE_RE.match(item)
                low = int(match.group(1))
                high = int(match.group(2) or low)
            else:
                self.error(
                    item_path, f'must be a status code or a range like "200-299", got {describe(item)}'
                )
                continue
            if not (100 <= low <= 599 and 100 <= high <= 599) or low > high:
                self.error(item_path, f"{item} is not a status code or range within 100-599")
                continue
            ranges.append((low, high))
        return tuple(ranges)
