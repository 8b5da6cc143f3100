# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # 1 Building and looking at models
#
# Every calculation in `alkali_layers` starts from a *builder*: a plain function that
# returns an `ase.Atoms` object with what you need to know about the model in
# `atoms.info`. In this notebook we build, without computing anything yet:
#
# * bilayer graphene (BLG) with 0–4 layers of an alkali metal between its sheets,
# * the stage-1 graphite intercalation compounds (GICs) LiC6 and KC8,
# * a closed slit pore and a wedge pore of a hard carbon, empty and filled.
#
# The conventions (gallery heights, close-packed layer spacings, strain) are on the
# [geometry page](../science/geometry.md). Runs in seconds.

# %%
import os

import matplotlib.pyplot as plt
from ase.visualize.plot import plot_atoms

from alkali_layers.builders import (
    bilayer_graphene,
    closed_pore,
    fill_pore,
    graphite_intercalation,
    max_layers,
    wedge_pore,
)


def side_and_top(atoms, title, rotation="-90x"):
    """Side view (along y) and top view of a model."""
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
    plot_atoms(atoms, ax1, rotation=rotation, radii=0.6)
    plot_atoms(atoms, ax2, radii=0.6)
    ax1.set_title(f"{title}: side")
    ax2.set_title("top")
    for ax in (ax1, ax2):
        ax.set_axis_off()
    plt.show()


# %% [markdown]
# ## Bilayer graphene with 1–4 layers of sodium
#
# `bilayer_graphene(metal, n_layers, stacking, packing)` puts `n_layers` metal layers
# between two graphene sheets. One layer is the √3×√3 R30° superstructure C6MC6;
# two or more are close-packed planes at the bulk nearest-neighbour distance, on the
# smallest graphene/metal coincidence supercell within 2 % metal strain.

# %%
for n in range(0, 5):
    atoms = bilayer_graphene("Na", n, stacking="AA")
    info = atoms.info
    print(
        f"{n} layers: {atoms.get_chemical_formula():>10s} {len(atoms):3d} atoms, "
        f"supercell {info.get('supercell')}, "
        f"metal strain {info.get('metal_strain_pct', 0):.2f} %, "
        f"gallery {info.get('gallery_height_A', '-')} Å"
    )

# %%
side_and_top(bilayer_graphene("Na", 3, stacking="AB", packing="fcc"), "Na 3 layers, AB")

# %% [markdown]
# Tags say which part of the model an atom belongs to: bottom sheet 1, top sheet 2,
# metal layer *k* (0-based) 11 + *k*. They are how analyses find the layers again.

# %%
atoms = bilayer_graphene("K", 2, stacking="AA", packing="hcp")
print(sorted(set(atoms.get_tags())), atoms.info["metal_strain_pct"])
side_and_top(atoms, "K bilayer (hcp) in AA BLG")

# %% [markdown]
# ## Stage-1 graphite intercalation compounds
#
# One graphene sheet and one metal layer per cell, AA (αα) stacked: LiC6 is the
# lithium-ion battery anode at full charge, KC8 the potassium analogue.

# %%
for name, metal in (("LiC6", "Li"), ("KC8", "K")):
    gic = graphite_intercalation(metal, name)
    print(name, gic.get_chemical_formula(), f"c = {gic.cell.lengths()[2]:.2f} Å")
    side_and_top(gic.repeat((2, 2, 2)), name)

# %% [markdown]
# ## Hard-carbon pores
#
# A closed slit pore is a gap of a given width between walls of graphene sheets.
# How many metal layers fit follows from the gallery height next to carbon and the
# close-packed layer spacing: `max_layers` does the arithmetic.

# %%
width_nm = 1.0
print(
    "layers that fit in a 1.0 nm slit:",
    {m: max_layers(width_nm, m) for m in "Li Na K".split()},
)
pore = closed_pore(width_nm)
filled = fill_pore(pore, "Na", mode="sandwich")
print(pore.get_chemical_formula(), "->", filled.get_chemical_formula())
side_and_top(filled, "Na sandwiched in a 1 nm closed pore")

# %% [markdown]
# The wedge pore is the other model of the literature: graphene ribbons whose
# spacing grows across the model and opens into a pore, with hydrogen-terminated
# edges (C244H12 at the default, published size of 3.70 × 0.74 nm).

# %%
wedge = wedge_pore()
print(wedge.get_chemical_formula(), len(wedge), "atoms")
side_and_top(wedge, "wedge pore", rotation="-90x")

# %% [markdown]
# ## Save a model and look at it in 3D
#
# Any ASE format works; `.extxyz` keeps `atoms.info`. Open it with `ase gui`.

# %%
import tempfile  # noqa: E402

from ase.io import read, write  # noqa: E402

path = os.path.join(tempfile.mkdtemp(), "na3_blg.extxyz")
write(path, bilayer_graphene("Na", 3))
back = read(path)
print(path, back.info["metal"], back.info["n_layers"], back.info["supercell"])

# %% [markdown]
# ## Exercises
#
# 1. Build Li, K and Cs in AA BLG with 2 layers. Which needs the largest supercell,
#    and why (compare their nearest-neighbour distances in `alkali_layers.elements`
#    with the graphene lattice constant 2.46 Å)?
# 2. Build Na with 3 layers with `packing="fcc"`, `"hcp"` and `"bcc"`. Look at the
#    side views: which layer sequence is which?
# 3. How wide must a slit be to hold 4 Na layers? Ask `fill_pore(closed_pore(1.0),
#    "Na", n_layers=4)` and read the error message.
# 4. Build `graphite_intercalation("Na", "NaC6")`. This compound is not observed in
#    experiment; notebook 2 shows how a formation energy says why.
