"""Run maglev.vpp modules in-process, Ansible's own way.

Arguments go in through ``ansible.module_utils.testing.patch_module_args`` (ansible-core 2.19);
``exit_json``/``fail_json`` of AnsibleModule are patched to raise, so a test gets the result
dict. Nothing else is mocked: the modules run their real code, and tests that need a VPP are
integration tests (tests/integration), not these.
"""

from __future__ import annotations

import pytest
from ansible.module_utils import basic
from ansible.module_utils.testing import patch_module_args


class AnsibleExitJson(Exception):
    """The module called exit_json; ``args[0]`` is the result."""


class AnsibleFailJson(Exception):
    """The module called fail_json; ``args[0]`` is the result."""


def _exit_json(self, **kwargs):
    kwargs.setdefault("changed", False)
    raise AnsibleExitJson(kwargs)


def _fail_json(self, msg, **kwargs):
    kwargs["failed"] = True
    kwargs["msg"] = msg
    raise AnsibleFailJson(kwargs)


@pytest.fixture
def run_module(monkeypatch):
    """run_module(module, args) -> (failed, result); ``module`` is the module's Python module."""
    monkeypatch.setattr(basic.AnsibleModule, "exit_json", _exit_json)
    monkeypatch.setattr(basic.AnsibleModule, "fail_json", _fail_json)

    def run(module, args, check_mode=False, diff=False):
        args = dict(args)
        if check_mode:
            args["_ansible_check_mode"] = True
        if diff:
            args["_ansible_diff"] = True
        with patch_module_args(args):
            try:
                module.main()
            except AnsibleExitJson as exc:
                return False, exc.args[0]
            except AnsibleFailJson as exc:
                return True, exc.args[0]
        raise AssertionError("the module returned without calling exit_json or fail_json")

    return run
