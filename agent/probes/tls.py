"""TLS client contexts for https probes, one per distinct (insecure, CA file, client cert) set."""

from __future__ import annotations

import asyncio
import ssl
from typing import Dict, Optional, Tuple

from ...plugins.module_utils.vpp_lb.schema import HealthCheck

TlsKey = Tuple[bool, Optional[str], Optional[str], Optional[str]]
_tls_contexts: Dict[TlsKey, ssl.SSLContext] = {}


class TlsSetupError(Exception):
    """The check's CA file or client certificate cannot be loaded."""


def clear_tls_contexts() -> None:
    """Forget cached TLS contexts, so changed CA or certificate files are read again (on reload)."""
    _tls_contexts.clear()


def _make_tls_context(key: TlsKey) -> ssl.SSLContext:
    insecure, ca_file, client_cert, client_key = key
    try:
        if insecure:
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context(cafile=ca_file)
        if client_cert:
            context.load_cert_chain(client_cert, client_key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(f"TLS setup: {exc}") from exc
    context.set_alpn_protocols(["http/1.1"])
    return context


async def tls_context(check: HealthCheck) -> ssl.SSLContext:
    """The check's client context, built once (file reads in a worker thread, not the loop)."""
    key = (check.tls_insecure, check.tls_ca_file, check.tls_client_cert, check.tls_client_key)
    context = _tls_contexts.get(key)
    if context is None:
        context = await asyncio.to_thread(_make_tls_context, key)
        _tls_contexts[key] = context
    return context
