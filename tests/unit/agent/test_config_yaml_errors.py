"""A config file that is not YAML: the error says what and where, never the line's text (which
may hold a health check's credential)."""

from __future__ import annotations

import pytest
import yaml
from ansible_collections.maglev.vpp.agent.config import ConfigFileError, read_document, yaml_error_text


@pytest.mark.parametrize("text, where", [
    ("healthchecks:\n  h:\n    headers:\n      Authorization: Bearer tok-SECRET-1: [\n", "line 4, column"),
    ("a: [unclosed, tok-SECRET-1\n", "line 2, column"),
    ("a: \"tok-SECRET-1\n", "line 2, column"),
    ("a: *tok-SECRET-1\n", "line 1, column"),
    ("a:\n\tb: tok-SECRET-1\n", "line 2, column"),
    ("a: \"tok-SECRET-1 \\q\"\n", "line 1, column"),
])
def test_yaml_errors_say_where_without_quoting_the_file(tmp_path, text, where):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    with pytest.raises(ConfigFileError) as caught:
        read_document(str(path))
    message = str(caught.value)
    assert "not valid YAML" in message and where in message, message
    assert "SECRET" not in message, message


def test_a_quoted_single_character_is_kept():
    with pytest.raises(yaml.YAMLError) as caught:
        yaml.safe_load("a:\n\tb: 1\n")
    assert "'\\t'" in yaml_error_text(caught.value), yaml_error_text(caught.value)
