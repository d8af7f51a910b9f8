"""The ``bakeoff`` command line. Each command lives in its own module."""

__all__: list[str] = []
