"""The task kinds, builders and layouts of the campaign system.

Importing this package registers them all (see
:mod:`alkali_layers.campaigns.registry`); a new kind of study adds one module here
and its name to the import below.
"""

from . import (  # noqa: F401 - imported for their registrations
    barrier,
    builders,
    charges,
    convergence,
    fill,
    filling_check,
    finetune_data,
    heterostructure,
    md,
    phonons,
    relax,
    validation,
)
