"""The vm molecule scenario's config (extensions/molecule/vm/vars/main.yml) as the core sees it.

That scenario boots a VM and takes half an hour, so it is not in scripts/test.sh; these checks catch
in seconds what once cost a whole run: a health check whose timeout was not shorter than its
interval failed the role's validation at converge, and a per-second tcp check of the guest's sshd
made sshd refuse Ansible ("Exceeded MaxStartups", docs/testing.md).
"""

from __future__ import annotations

import os
from typing import Any

import pytest
import yaml
from ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb import schema
from jinja2.nativetypes import NativeEnvironment

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VM_VARS = os.path.join(REPO_ROOT, "extensions", "molecule", "vm", "vars", "main.yml")


def render(value: Any, variables: dict) -> Any:
    """Template strings rendered to native values, as Ansible does for the role's inputs."""
    if isinstance(value, dict):
        return {k: render(v, variables) for k, v in value.items()}
    if isinstance(value, list):
        return [render(v, variables) for v in value]
    if isinstance(value, str) and "{{" in value:
        return NativeEnvironment().from_string(value).render(variables)
    return value


def vm_maglev_lb(web3_weight: int) -> dict:
    with open(VM_VARS, encoding="utf-8") as f:
        scenario_vars = yaml.safe_load(f)
    return render(scenario_vars["maglev_lb"], {"vm_web3_weight": web3_weight})


# converge uses the file's weight, verify reruns the role with 40
@pytest.mark.parametrize("web3_weight", [100, 40])
def test_vm_scenario_config_is_valid(web3_weight):
    assert schema.validate(vm_maglev_lb(web3_weight)) == []


def test_vm_scenario_does_not_health_check_sshd():
    conf = vm_maglev_lb(100)
    ssh_checks = [name for name, check in conf["healthchecks"].items()
                  if check["type"] == "tcp" and check["port"] == 22]
    assert ssh_checks == []
