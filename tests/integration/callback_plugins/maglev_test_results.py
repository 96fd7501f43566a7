"""Test-only callback: every task result and the play recap as JSON lines in a file.

Enabled by the integration-test harness (tests/integration/ansible_runner_helpers.py) through
ANSIBLE_CALLBACK_PLUGINS and ANSIBLE_CALLBACKS_ENABLED; it writes to the file named by the
environment variable MAGLEV_TEST_RESULTS. The screen output stays the default callback's, so
tests can also read what an operator sees (for example --diff).
"""

from __future__ import annotations

import json
import os

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: maglev_test_results
    type: aggregate
    short_description: write task results and the recap as JSON lines (integration tests only)
    description:
      - Appends one JSON object per task result and one for the play recap to the file named by
        the environment variable E(MAGLEV_TEST_RESULTS).
    requirements:
      - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "maglev_test_results"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("MAGLEV_TEST_RESULTS")

    def _write(self, record):
        if not self._path:
            return
        with open(self._path, "a", encoding="utf-8") as stream:
            stream.write(json.dumps(record, default=str, sort_keys=True) + "\n")

    def _task_record(self, status, result):
        data = getattr(result, "result", None)
        if data is None:  # ansible-core before 2.19
            data = result._result
        task = getattr(result, "task", None) or result._task
        host = getattr(result, "host", None) or result._host
        return {
            "kind": "task",
            "status": status,
            "task": task.get_name(),
            "action": task.action,
            "host": host.get_name(),
            "result": dict(data),
        }

    def v2_runner_on_ok(self, result):
        self._write(self._task_record("ok", result))

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._write(self._task_record("failed", result))

    def v2_runner_on_skipped(self, result):
        self._write(self._task_record("skipped", result))

    def v2_runner_on_unreachable(self, result):
        self._write(self._task_record("unreachable", result))

    def v2_playbook_on_stats(self, stats):
        recap = {host: stats.summarize(host) for host in sorted(stats.processed)}
        self._write({"kind": "recap", "hosts": recap})
