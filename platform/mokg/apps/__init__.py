"""The applications over the library: the `mokg` command line (:mod:`mokg.apps.cli`), the web service
(:mod:`mokg.apps.web`) and the Celery workers (:mod:`mokg.apps.workers`).

Apps import the library and never each other's internals beyond what they launch; the library never imports
an app (``tests/unit/test_import_graph.py``).
"""
