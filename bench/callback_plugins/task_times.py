"""Benchmark-only callback: the wall time of every task, as JSON lines in a file.

Enabled by bench/bench_modules.py through ANSIBLE_CALLBACK_PLUGINS and ANSIBLE_CALLBACKS_ENABLED;
it appends to the file named by the environment variable MAGLEV_TASK_TIMES. A task's time runs
from the strategy starting it to its result reaching the controller's callbacks: worker start,
argument templating, module transfer and run, and the controller's handling of the result.
"""

from __future__ import annotations

import json
import os
import time

from ansible.plugins.callback import CallbackBase

DOCUMENTATION = """
    name: task_times
    type: aggregate
    short_description: write each task's wall time as JSON lines (benchmarks only)
    description:
      - Appends one JSON object per finished task (name, status, seconds) to the file named by
        the environment variable E(MAGLEV_TASK_TIMES).
    requirements:
      - enabled in callbacks_enabled
"""


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "task_times"
    CALLBACK_NEEDS_ENABLED = True

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._path = os.environ.get("MAGLEV_TASK_TIMES")
        self._started = {}

    def v2_playbook_on_task_start(self, task, is_conditional):
        self._started[task._uuid] = time.perf_counter()

    def _record(self, status, result):
        task = getattr(result, "task", None) or result._task
        seconds = time.perf_counter() - self._started[task._uuid]
        if self._path:
            with open(self._path, "a", encoding="utf-8") as stream:
                stream.write(json.dumps({"task": task.get_name(), "status": status, "seconds": seconds}) + "\n")

    def v2_runner_on_ok(self, result):
        self._record("ok", result)

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record("failed", result)
