"""tomosnake: from raw nano-CT projections to electrode microstructure numbers.

Subpackages, one per stage: ``io`` (readers, zarr/TIFF volumes), ``synth``
(beamtime simulator), ``preprocess``, ``recon``, ``segment``, ``morph``
(quantification), ``viz`` (figures and report).

Conventions everywhere: volumes are (z, y, x); projections are (angle, z, x);
angles are in radians; the rotation centre is a detector column coordinate in
tomopy's convention (the left edge of column 0 is 0, so the middle of an
``n``-column detector is ``n / 2``); lengths carry their unit in their name
(``pixel_size_um``).
"""

__version__ = "0.1.0"
