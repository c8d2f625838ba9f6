"""``python -m models.install install|list`` (install.py runs this in the server environment)."""

import os
import sys

from .fetch import main

os.environ.setdefault("PYTHONUNBUFFERED", "1")
sys.exit(main())
