"""Rankings and reports built from metric results only (no service, DB or adapters)."""

__all__: list[str] = []
