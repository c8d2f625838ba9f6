"""The plug-in's gettext catalogues: the template, the translations and the stdlib tools that make them."""
