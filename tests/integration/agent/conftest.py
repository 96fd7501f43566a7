"""Fixtures wrapping backends.py: real backends in a network namespace per test (see its docstring)."""

from __future__ import annotations

import contextlib
from typing import Callable, Iterator

import pytest
from backends import BackendNet


@pytest.fixture
def backend_net() -> Iterator[BackendNet]:
    """A fresh BackendNet, torn down (servers, veth, namespace) even when the test fails."""
    with BackendNet() as net:
        yield net


@pytest.fixture
def backend_net_factory() -> Iterator[Callable[[], BackendNet]]:
    """Makes more BackendNets in one test; every one is torn down at the end."""
    with contextlib.ExitStack() as stack:
        yield lambda: stack.enter_context(BackendNet())
