"""Which values of a maglev_lb object are secrets, so that output and logs can mask them.

Health checks may carry credentials in request headers (``Authorization: Bearer ...``, API keys,
cookies). The modules mask these values wherever Ansible prints or logs arguments and results;
the agent can use the same rule for its logs.
"""

from __future__ import annotations

import re
from collections import abc
from typing import Any, Iterable, List, Set, Tuple

# Header names that carry credentials (case-insensitive, anywhere in the name).
SECRET_HEADER_RE = re.compile(r"auth|token|secret|key|session|passw|cookie|credential|signature", re.IGNORECASE)

# What shows in place of a secret (Ansible's no_log mask).
MASK = "********"


def is_secret_header(name: str) -> bool:
    return bool(SECRET_HEADER_RE.search(name))


def masked_headers(headers: Iterable[Tuple[str, str]]) -> List[List[str]]:
    """Request headers as [name, value] pairs fit to show: credential values masked."""
    return [[name, MASK if value and is_secret_header(name) else value] for name, value in headers]


def secret_values(maglev_lb: Any) -> Set[str]:
    """The secret strings of a (raw, unvalidated) maglev_lb object: the values of credential
    headers of every health check, and for ``<scheme> <credentials>`` values the credentials alone.
    Anything malformed is skipped (the validator reports it)."""
    secrets: Set[str] = set()
    if not isinstance(maglev_lb, abc.Mapping) or not isinstance(maglev_lb.get("healthchecks"), abc.Mapping):
        return secrets
    for check in maglev_lb["healthchecks"].values():
        headers = check.get("headers") if isinstance(check, abc.Mapping) else None
        if not isinstance(headers, abc.Mapping):
            continue
        for name, value in headers.items():
            if not isinstance(name, str) or not is_secret_header(name):
                continue
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                secrets.add(str(value))  # written unquoted; the validator refuses it, the echo must not show it
                continue
            if not isinstance(value, str):
                continue
            value = value.strip(" \t")
            if value:
                secrets.add(value)
            credentials = value.split(None, 1)[1].strip() if len(value.split(None, 1)) == 2 else ""
            if credentials:
                secrets.add(credentials)
    return secrets
