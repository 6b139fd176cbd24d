"""``python -m edgecv`` is the ``edgecv`` command."""

from edgecv.cli import app

app()
