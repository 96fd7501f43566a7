"""maglev-agent: keeps VPP's LB plugin true to backend health between playbook runs.

Imported as ``ansible_collections.maglev.vpp.agent`` (the collection root holds both ``agent/``
and the shared core in ``plugins/module_utils/vpp_lb``); ``python -m`` on this package runs it.
"""

__version__ = "0.1.0"
