"""The ``bakeoff demo`` command: a complete bake-off on bundled data."""

__all__: list[str] = []
