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
# # 5 Charge transfer on a tiny DFT cell: Bader charges and Δρ(z)
#
# How many electrons does an alkali atom give to the carbon? The machine-learned
# potential cannot say (it has no electrons); this notebook uses the DFT engine, GPAW,
# on the smallest cell that shows the physics: stage-1 LiC6 (7 atoms), at deliberately
# tiny settings (250 eV cutoff, k-point density 2) that run in a minute or two on a
# laptop. Two measures, which answer different questions
# ([charge analysis page](../science/charges.md)):
#
# * **Bader charges** of the all-electron density: space is cut into atomic basins
#   along the zero-flux surfaces of the density; net charge = Z − population;
# * the **plane-averaged density difference** at frozen geometry,
#   `Δρ(z) = ρ(host + M) − ρ(host) − ρ(M)` (e/Å, integrated over the plane), and Δq_z,
#   the electrons that left the depletion region around the metal plane.
#
# At the full course size the notebook also analyses C6LiC6 (one Li layer in AA
# bilayer graphene, 13 atoms with vacuum, a few minutes more).

# %%
import os
import tempfile
import time

import matplotlib.pyplot as plt
import numpy as np

from alkali_layers.builders import bilayer_graphene, graphite_intercalation
from alkali_layers.calculators.charges import charge_analysis
from alkali_layers.engines import GPAWSettings

# ALKALI_LAYERS_COURSE_SIZE=small (set by CI): LiC6 only
SMALL = os.environ.get("ALKALI_LAYERS_COURSE_SIZE", "full") == "small"

# tiny settings: enough for charges (Bader charges of the all-electron density hardly
# depend on cutoff and k points, see tests/calculators/test_charges.py), not for
# energies
TINY = GPAWSettings(
    ecut_eV=250.0, kpt_density=2.0, scf_energy_eV=1e-4, scf_density=1e-3
)

models = {"LiC6": graphite_intercalation("Li", "LiC6")}
if not SMALL:
    models["C6LiC6 (BLG)"] = bilayer_graphene("Li", 1, stacking="AA")

# %% [markdown]
# ## Three SCF calculations per model
#
# `charge_analysis` runs GPAW on the model, on the host alone and on the metal alone
# (same cell, same grid), computes Bader charges on the all-electron density of the
# model and Δρ(z) from the three densities. The GPAW logs go to the folder given
# (`gpaw-full.txt`, `gpaw-host.txt`, `gpaw-metal.txt`): read them.

# %%
logs = tempfile.mkdtemp(prefix="course-charges-")
results = {}
for name, atoms in models.items():
    t = time.perf_counter()
    folder = os.path.join(logs, name.split()[0])
    results[name] = charge_analysis(atoms, TINY, gridrefinement=1, folder=folder)
    print(f"{name}: {time.perf_counter() - t:.0f} s, GPAW logs in {folder}")

# %% [markdown]
# ## Bader charges
#
# Charge is conserved (the net charges add up to zero within the grid error), and
# what the Li atom gives away the carbon sheets receive.

# %%
for name, r in results.items():
    q = np.array(r["net_charges_e"])
    symbols = np.array(r["symbols"])
    q_li = q[symbols == "Li"]
    q_c = q[symbols == "C"]
    print(
        f"{name}: Li {q_li.mean():+.3f} e per atom, carbon total {q_c.sum():+.3f} e "
        f"({q_c.mean():+.4f} e per C), sum of all {q.sum():+.4f} e"
    )
    assert abs(q.sum()) < 0.05  # charge is conserved
    assert abs(q_c.sum() + q_li.sum()) < 0.05  # carbon receives what Li gives

# %% [markdown]
# ## The density difference Δρ(z)

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, r in results.items():
    z = np.array(r["z_A"])
    ax.plot(z, r["drho_e_per_A"], label=name)
    for zm in r["metal_planes_z_A"]:
        ax.axvline(zm, color="grey", ls=":")
    print(
        f"{name}: integral of drho {r['drho_integral_e']:+.4f} e (0 up to grid error), "
        f"dq_z per Li {r['dq_z_per_atom_e'][0]:.3f} e vs Bader "
        f"{r['summary']['layers'][0]['per_atom_e']:.3f} e"
    )
ax.axhline(0, color="grey", lw=0.5)
ax.set_xlabel("z (Å)")
ax.set_ylabel("Δρ(z) (e/Å)")
ax.legend()
plt.show()

# %% [markdown]
# Δρ is negative at the Li plane (dotted) and positive about 0.5–1 Å from each carbon
# plane, where graphene's π orbitals have their lobes. Δq_z is much smaller than the
# Bader charge: Bader also counts charge that belongs to Li's basin geometrically but
# never moved, Δq_z only what moved. Neither is "the" charge transfer; report both,
# with the method named.
#
# The committed analysis of the bilayer models at production settings is on the
# [charges results page](../results/charges.md).
#
# ## Exercises
#
# 1. Run KC8 (`graphite_intercalation("K", "KC8")`). Is K more or less ionized than
#    Li, by Bader and by Δq_z?
# 2. Raise the cutoff to 400 eV (`GPAWSettings(ecut_eV=400.0, ...)`). How much do
#    the Bader charge and Δq_z move, and which is more robust?
# 3. Set `gridrefinement=2` (the production value). What changes, and what does it
#    cost?
# 4. In C6LiC6 the Li gives its electron to two sheets; in LiC6 to one sheet per
#    gallery side as well. Compare the charge per C of the two (`r["summary"]`).
