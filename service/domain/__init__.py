"""Business rules of the service: keyword-only functions over a session; no HTTP here."""

__all__: list[str] = []
