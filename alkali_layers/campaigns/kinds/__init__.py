"""The task kinds, builders and layouts of the campaign system.

Importing this package registers them all (see
:mod:`alkali_layers.campaigns.registry`); a new kind of study adds one module here
and one import line below.
"""

from . import builders, relax  # noqa: F401
