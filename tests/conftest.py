"""Make the checkout importable under its collection name.

Modules and the agent import the core as
``ansible_collections.maglev.vpp.plugins.module_utils.vpp_lb``; tests do the same, through a
symlink tree ``.build/ansible_collections/maglev/vpp -> <repo root>`` put on sys.path.
"""

import os
import sys

# pytest puts tests/ on sys.path (rootdir conftest); ansible-test units does not.
HERE = os.path.dirname(os.path.abspath(__file__))
if HERE not in sys.path:
    sys.path.insert(0, HERE)
import collection_link  # noqa: E402

REPO_ROOT = collection_link.REPO_ROOT
COLLECTIONS_DIR = collection_link.COLLECTIONS_DIR


def _hypothesis_profiles() -> None:
    """The suite's property tests must not depend on the machine's speed or on luck.

    ``suite`` (the default): no per-example deadline and no "too slow" health check, since
    both measure time and fail on a busy machine; derandomized, so every run draws the same
    examples (random exploration is for ``HYPOTHESIS_PROFILE=explore`` and
    scripts/model_soak.py, where a failure is a finding, not a flake).
    """
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # the sanity environment has no hypothesis
        return
    untimed = {"deadline": None, "suppress_health_check": [HealthCheck.too_slow]}
    settings.register_profile("suite", derandomize=True, **untimed)
    settings.register_profile("explore", **untimed)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "suite"))


_hypothesis_profiles()
