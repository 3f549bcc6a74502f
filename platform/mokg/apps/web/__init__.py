"""The MoKG web service: the lookup API, the analyst Cypher endpoint and the analyst page (Flask).

`mokg.apps.web.app:create_app()` is the application factory (gunicorn: ``mokg serve``); everything it does is a thin
layer over :mod:`mokg`.
"""
