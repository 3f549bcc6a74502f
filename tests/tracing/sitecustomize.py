"""Test-only, run by Python at the start of every process the test session starts (this folder is on their
``PYTHONPATH``): records the named Cypher statements the process runs (see ``cypher_trace``)."""

from __future__ import annotations

try:
    import cypher_trace
except ImportError:  # a process whose path lacks this folder's module: nothing to record
    pass
else:
    cypher_trace.install()
