"""One module per resource; each defines ``router`` (an ``APIRouter``)."""

__all__: list[str] = []
