"""Person segmenters behind one interface (:mod:`models.base`), by name (:mod:`models.registry`)."""
