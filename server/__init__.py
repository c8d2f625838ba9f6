"""Person Cutout inference server and command line (``python -m server``).

Importing this package is cheap: torch and the models load only when a command
or request needs them, so ``server.protocol`` and ``server.client`` stay light.
"""

__version__ = "0.1.0"
