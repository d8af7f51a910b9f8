"""HTTP layer: dependencies, error mapping and thin routes."""

__all__: list[str] = []
