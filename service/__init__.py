"""The Bakeoff service: FastAPI + SQLModel app, storage, dispatch, QA queue, CLI."""

__all__: list[str] = []
