"""Print the digest of a maglev_lb as the agent publishes it (run on the controller).

    python config_digest.py COLLECTION_ROOT < maglev_lb.json

The role waits until the agent's state file reports this digest (``config.digest``), so a play
pushes with the ``lb`` module only once the agent runs the same config. The digest is computed
by the collection's own core (``vpp_lb.config_digest``), the function the agent calls.
"""

import importlib
import importlib.util
import json
import os
import sys


def load_core(root):
    """The collection's core as a package of its own (it imports only itself, stdlib and yaml), so
    any layout of the collection root works (an installed collection, a source checkout)."""
    where = os.path.join(root, "plugins", "module_utils", "vpp_lb")
    spec = importlib.util.spec_from_file_location(
        "vpp_lb", os.path.join(where, "__init__.py"), submodule_search_locations=[where])
    package = importlib.util.module_from_spec(spec)
    sys.modules["vpp_lb"] = package
    spec.loader.exec_module(package)
    return importlib.import_module("vpp_lb.config_digest"), importlib.import_module("vpp_lb.schema")


def main(root):
    config_digest, schema = load_core(root)

    try:
        config = schema.parse_config(json.load(sys.stdin))
    except schema.ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(config_digest.config_digest(config).whole)
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit(__doc__)
    sys.exit(main(sys.argv[1]))
