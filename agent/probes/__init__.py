"""Health probes, one module per check type (to be built)."""
