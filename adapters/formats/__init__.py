"""Readers and writers for label files: CSV, COCO JSON, Label Studio JSON, JSON Lines.

One module per format. Readers validate while they stream and raise
:class:`FormatError` naming the file, the row or object, and what is wrong.
"""

from adapters.formats._errors import FormatError
from adapters.formats._json_safe import MAX_JSON_DEPTH

__all__ = ["FormatError", "MAX_JSON_DEPTH"]
