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
# # 4 A closed pore filled step by step, and its plateau
#
# How does a closed pore of a hard carbon take up sodium? Sequential filling
# (`alkali_layers.workflows.filling.sequential_filling`) adds a few atoms at a time,
# ranks competing ways of placing them (at edges, vacancies, between sheets, in the
# pore as a cluster, a plated layer or a sandwich), relaxes the best and keeps the
# lowest. The energies E(n) give the voltage profile along the lower convex hull of
# `g(n) = E(n) − E(0) − n μ_Na` ([energies page](../science/energies.md#voltage)).
#
# Part A runs a short filling live (the first atoms; ~3 min at full size, ~1 min at
# the CI size). Part B reads the committed full filling of the same pore from
# `runs/hard_carbon/` and finds its plateau.

# %%
import os
from pathlib import Path

import matplotlib.pyplot as plt
from ase.visualize.plot import plot_atoms

from alkali_layers.analysis.hard_carbon import split_slope_plateau
from alkali_layers.builders import closed_pore, max_layers
from alkali_layers.calculators.relax import RelaxSettings
from alkali_layers.engines import make_calculator
from alkali_layers.workflows.filling import (
    FillingResult,
    FillingSettings,
    sequential_filling,
)

# ALKALI_LAYERS_COURSE_SIZE=small (set by CI): fewer atoms in part A
SMALL = os.environ.get("ALKALI_LAYERS_COURSE_SIZE", "full") == "small"

# %% [markdown]
# ## The pore
#
# A 1.0 nm slit between walls of two graphene sheets, 0.98 × 0.85 nm in plane
# (64 C): the smallest pore of the committed study. Two Na layers fit.

# %%
pore = closed_pore(1.0, size=(4, 2))
print(pore.get_chemical_formula(), "| Na layers that fit:", max_layers(pore, "Na"))
fig, ax = plt.subplots(figsize=(4, 3))
plot_atoms(pore, ax, rotation="-90x", radii=0.6)
ax.set_axis_off()
plt.show()

# %% [markdown]
# ## Part A: the first steps, live
#
# Cheap settings for a laptop: 2 atoms per step, single-point ranking of at most 4
# candidates, the best one relaxed to 0.1 eV/Å. (The committed study ranks by short
# pre-relaxations and relaxes to 0.02 eV/Å; single-point ranking was measured to end
# 0.3–0.4 eV higher per step, see `FillingSettings`.)

# %%
calc = make_calculator("mlip")
settings = FillingSettings(
    atoms_per_step=2,
    n_max=2 if SMALL else 6,
    max_candidates=4,
    n_random=0,
    n_relax=1,
    rank_steps=0,
    relax=RelaxSettings(fmax_eV_A=0.1, max_steps=60, gallery_prescan=False),
    stop_below_V=None,
)
live = sequential_filling(pore, "Na", calc, settings, progress=print)
for step in live.steps:
    print(
        f"n = {step.n_metal:2d}: {step.label:16s} E = {step.energy_eV:.3f} eV, "
        f"step voltage {step.voltage_step_V or float('nan'):+.3f} V, "
        f"{step.force_calls} force calls"
    )

# %% [markdown]
# The voltage of each early step is usually *negative*: a few sodium atoms in a big
# pore are worse off than in bulk sodium, because a small cluster has a large bare
# surface. The pore only pays back once the metal–graphene interfaces are complete:
# that is why the steps must be read along the hull of the *whole* filling, not one
# by one.

# %%
profile = live.voltage_profile("host")
for s in profile.steps:
    print(f"n {s.n1:.0f} -> {s.n2:.0f}: {s.voltage_V:+.3f} V")
fig, ax = plt.subplots(figsize=(4, 3))
plot_atoms(live.structures[-1], ax, rotation="-90x", radii=0.6)
ax.set_title(f"Na{live.n_metal[-1]} in the pore (part A)")
ax.set_axis_off()
plt.show()

# %% [markdown]
# ## Part B: the committed filling of the same pore
#
# `runs/hard_carbon/results/closed-Na-strict.json` (+ `.traj`) holds the full filling
# with the study's settings (the "strict" protocol, see its
# [results page](../results/hard_carbon.md)).

# %%
ROOT = Path.cwd() if (Path.cwd() / "runs").is_dir() else Path.cwd().parent
full = FillingResult.read(
    ROOT / "runs" / "hard_carbon" / "results" / "closed-Na-strict.json"
)
print("n(Na):", full.n_metal)
print("path :", full.path)
prof = full.voltage_profile("host")
split = split_slope_plateau(prof)
for s in prof.steps:
    print(
        f"hull step n {s.n1:.0f} -> {s.n2:.0f}: {s.voltage_V:+.3f} V, "
        f"{s.capacity1_mAh_g:.0f} -> {s.capacity2_mAh_g:.0f} mAh/g"
    )
print(
    f"sloping {split.sloping_mAh_g:.0f} mAh/g, plateau {split.plateau_mAh_g:.0f} mAh/g "
    f"at {split.plateau_voltage_V} V (plateau: 0 < V <= {split.threshold_V} V)"
)

# %%
fig, (ax1, ax2, ax3) = plt.subplots(1, 3, figsize=(12, 3.6))
n, g = prof.n_metal, prof.g_eV
ax1.plot(n, g, "o", label="all steps")
ax1.plot([n[i] for i in prof.hull], [g[i] for i in prof.hull], "-", label="lower hull")
ax1.set_xlabel("Na atoms in the pore")
ax1.set_ylabel("g(n) = E(n) - E(0) - n mu_Na (eV)")
ax1.legend()
q, v = prof.curve()
ax2.plot(q, v, "-")
ax2.axhline(0.1, ls=":", color="grey")
ax2.set_xlabel("capacity (mAh per g of C)")
ax2.set_ylabel("V vs Na+/Na")
plot_atoms(full.structures[-1], ax3, rotation="-90x", radii=0.6)
ax3.set_title(f"Na{full.n_metal[-1]}: the filled pore")
ax3.set_axis_off()
fig.tight_layout()
plt.show()

# %% [markdown]
# In the committed filling the hull goes from the empty pore straight to the filled
# one: the pore fills in one go at a small positive voltage, the plateau.
# Intermediate fillings lie above the hull, which is the "one pore fills completely
# before the next one starts" of the [phenomenon page](../science/phenomenon.md).
#
# ## Exercises
#
# 1. Continue part A to 12 atoms (`n_max=12`; a few minutes). When does the hull of
#    your own filling first reach a positive voltage? Compare with part B.
# 2. Read `closed-Li-strict.json` and `closed-K-strict.json` from the same folder.
#    Which metal gives a plateau (0–0.1 V), which does not?
# 3. Use `rank_steps=5` and `n_relax=3` (the defaults) for the first two steps and
#    compare the energies with part A: how much does the cheap search lose?
# 4. Why is the capacity here per gram of carbon (host basis)? Redo part B with
#    `full.voltage_profile("total")`.
