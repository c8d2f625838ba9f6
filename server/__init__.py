"""Person Cutout inference server and command line (``python -m server``).

Importing this package is cheap: torch and the models load only when a command
or request needs them. The wire protocol and the client are not here: they are in
:mod:`cutout_common`, which the GIMP plug-in shares.
"""

__version__ = "0.1.0"
