"""The beer game in the browser (``python -m jaxbeer.serve``): needs the ``web`` extra.

``engine`` plays weeks with ``jaxbeer``'s own step, ``store`` keeps everything
in SQLite, ``service`` is what the pages do, ``app`` the FastAPI pages and API.
"""
