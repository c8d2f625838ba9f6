"""Install-time code: fetching weights from registry packages and converting them to PyTorch.

Nothing here runs while the server works: the segmenters in ``models/`` load the converted files,
and a missing file is an error that names ``python install.py --models NAME``. This package
depends on the networks it converts for (``models/*_net.py``); they never import it.

* :mod:`.fetch` — the manifest (``models/manifest.json``), downloads, mirrors, checksums;
* :mod:`.tfjs`, :mod:`.selfie`, :mod:`.rvm`, :mod:`.isnet`, :mod:`.torchvision_checkpoints`,
  :mod:`.parsing` — the converters the manifest names;
* :mod:`.random_weights` — seeded random weights for the networks whose real ones cannot be
  fetched everywhere, so their loading code and speed are tested all the same.
"""


class ConversionError(ValueError):
    """The downloaded files are not the network a converter was written for: it fails loudly, loads no garbage."""
