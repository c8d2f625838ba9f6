"""What the Person Cutout server and its GIMP plug-in share: one package, standard library only.

It lives in the checkout as it is installed: the server imports it from here (install.py puts
``gimp_plugin/`` on the server environment's path), and install.py puts the whole folder beside
the plug-in in GIMP's profile. Nothing in it imports anything outside the standard library, so it
runs unchanged in GIMP's own Python.

* :mod:`.protocol` — the wire protocol (message grammar, validation, error codes);
* :mod:`.client` — the client side of it (pyzmq is imported there, by the callers' choice);
* :mod:`.vocabulary` — every name the two ends agree on: segmenters, their titles and licences,
  edge modes, outputs; :mod:`.options` — the declarative option tables built from it;
* :mod:`.page_geometry` — comic page sizes, guides and panel layouts in pixels;
* :mod:`.comic_styles` — the comic styles' parameter table.
"""
