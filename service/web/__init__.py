"""Server-rendered web pages (QA review, dashboards) and their helpers (:mod:`service.web.csrf`)."""

__all__: list[str] = []
