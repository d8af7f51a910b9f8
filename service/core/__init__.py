"""Settings, database engine and column types shared by the whole service."""

__all__: list[str] = []
