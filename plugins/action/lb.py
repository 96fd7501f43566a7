# Copyright: maglev.vpp developers
# Apache License 2.0 (see LICENSE or https://www.apache.org/licenses/LICENSE-2.0)
"""Action plugin of maglev.vpp.lb: hands a large ``config`` to the module cheaply.

ansible-core 2.19 templates ``config: "{{ maglev_lb }}"`` by walking and copying every node of
the structure (seconds at 1,000 frontends), then encodes it node by node for the module. When
``config`` is exactly one plain variable reference, this plugin instead takes the variable's
value as stored, templates only the strings in it that contain Jinja, and ships the result to
the module as one JSON string (the module's ``dict`` option parses JSON text into the same
object). Anything else -- filters, expressions, a variable whose value is itself a template,
``omit``, a value that does not encode as JSON -- takes Ansible's normal templating, so the
result is always what plain templating would give.

The module itself is unchanged: check mode, diff and the masking of health check secrets
(``no_log_values``) happen there, and this plugin prints and returns nothing of the config.
"""

from __future__ import annotations

import json
import re
import typing as t

from ansible.plugins.action import ActionBase
from ansible.utils.display import Display
from ansible.utils.vars import merge_hash

display = Display()

# `{{ name }}` and nothing else: the form the docs recommend, `config: "{{ maglev_lb }}"`.
PLAIN_REFERENCE_RE = re.compile(r"\A\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}\Z")
# Jinja's default delimiters: a string without them is not a template (ansible-core stores
# variables' strings as they were written and templates them only when they hold these).
TEMPLATE_MARKERS = ("{{", "{%", "{#")


class _Fallback(Exception):
    """The fast hand-over does not apply; template the argument as Ansible would."""


def plain_reference(value: t.Any) -> t.Optional[str]:
    """The variable name when ``value`` is exactly ``{{ name }}``, else None."""
    if not isinstance(value, str):
        return None
    match = PLAIN_REFERENCE_RE.match(value.strip())
    return match.group(1) if match else None


def resolve_embedded(value: t.Any, template: t.Callable[[t.Any], t.Any]) -> t.Any:
    """``value`` (a variable as stored) with each string holding Jinja replaced by ``template``
    of it; dicts, lists and JSON scalars are walked as they are. Anything else (a vaulted
    string, a set, ...) raises _Fallback: the caller templates the whole value instead."""
    if isinstance(value, str):
        return template(value) if any(marker in value for marker in TEMPLATE_MARKERS) else value
    if isinstance(value, dict):
        return {key: resolve_embedded(item, template) for key, item in value.items()}
    if isinstance(value, list):
        return [resolve_embedded(item, template) for item in value]
    if value is None or isinstance(value, (bool, int, float)):
        return value
    raise _Fallback(type(value).__name__)


def config_as_json(value: t.Any, variables: t.Mapping[str, t.Any], template: t.Callable[[t.Any], t.Any]) -> str:
    """The JSON text of ``config`` when it is a plain reference to a dict variable; _Fallback otherwise."""
    name = plain_reference(value)
    if name is None or name not in variables:
        raise _Fallback("not a plain reference to a defined variable")
    stored = variables[name]
    if not isinstance(stored, dict):  # e.g. a variable whose value is itself a template
        raise _Fallback("not a dict")
    try:  # the common case, nothing templated inside: one C-level pass
        text = json.dumps(stored, separators=(",", ":"))
    except (TypeError, ValueError):
        text = None
    if text is not None and not any(marker in text for marker in TEMPLATE_MARKERS):
        return text
    try:
        return json.dumps(resolve_embedded(stored, template), separators=(",", ":"))
    except (TypeError, ValueError) as exc:
        raise _Fallback(str(exc)) from exc


class ActionModule(ActionBase):
    """Runs maglev.vpp.lb like Ansible's normal action, after the cheaper ``config`` hand-over."""

    _supports_check_mode = True
    _supports_async = True

    @classmethod
    def finalize_task_arg(cls, name: str, value: t.Any, templar: t.Any, context: t.Any) -> t.Any:
        # ansible-core >= 2.19 calls this for each task argument instead of templating it.
        if name == "config":
            try:
                text = config_as_json(value, templar.available_variables, templar.template)
            except Exception as exc:  # any surprise: Ansible's own templating decides (and reports errors)
                # Only our own reasons are shown: a template error's text may quote a secret header.
                reason = str(exc) if isinstance(exc, _Fallback) else type(exc).__name__
                display.vvv(f"maglev.vpp.lb: config templated by Ansible ({reason})")
            else:
                display.vvv(f"maglev.vpp.lb: config {value.strip()} handed over as JSON text ({len(text)} bytes)")
                return text
        return super().finalize_task_arg(name, value, templar, context)

    def run(self, tmp: t.Any = None, task_vars: t.Optional[dict] = None) -> dict:
        result = super().run(tmp, task_vars)
        del tmp  # no effect since ansible-core 2.4
        wrap_async = self._task.async_val and not self._connection.has_native_async
        result = merge_hash(result, self._execute_module(task_vars=task_vars, wrap_async=wrap_async))
        if not wrap_async:
            self._remove_tmp_path(self._connection._shell.tmpdir)
        return result
