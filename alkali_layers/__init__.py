"""alkali_layers: multilayer alkali metals in carbon hosts, from builders to tables."""

__version__ = "0.1.0"
