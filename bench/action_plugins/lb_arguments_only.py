# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Benchmark baseline's action: the very hand-over of maglev.vpp.lb's action plugin, so the
baseline module receives ``config`` exactly as the lb module does (bench/bench_modules.py)."""

from __future__ import annotations

from ansible_collections.maglev.vpp.plugins.action import lb

ActionModule = lb.ActionModule
