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
# # 8 Sodium between graphene and MoS2: which MoS2 phase, and how many electrons per Mo
#
# MoS2 has a semiconducting 2H phase and a metallic, distorted-octahedral 1T' phase.
# Electrons donated by intercalated alkali atoms can switch it from 2H to 1T'; the
# published charge analysis of graphene/metal/MoS2 heterostructures puts the switch
# at about 0.46 electrons per Mo ([the phenomenon](../science/phenomenon.md),
# [geometry](../science/geometry.md)).
#
# In this notebook: one close-packed Na layer between graphene and MoS2 in the
# smallest coincidence cell (√7×√7 R19.1° graphene on 2×2 MoS2, 29 atoms), relaxed
# with the fast engine for both phases; the intercalation energy, the phase
# preference per Mo, and the Bader charge per Mo from one tiny GPAW calculation.
# A few minutes on a laptop.

# %%
import os
import tempfile

import matplotlib.pyplot as plt
from ase.visualize.plot import plot_atoms

from alkali_layers.analysis.heterostructure import (
    intercalation_energy_eV_per_metal,
    mos2_charges,
    phase_energy_difference_eV_per_Mo,
)
from alkali_layers.builders.mos2 import graphene_mos2
from alkali_layers.calculators.charges import bader_charges
from alkali_layers.calculators.references import ReferenceEnergies
from alkali_layers.calculators.relax import RelaxSettings, relax
from alkali_layers.elements import MOS2_1TPRIME_ELECTRONS_PER_MO
from alkali_layers.engines import GPAWSettings, make_calculator
from alkali_layers.engines.gpaw import gpaw_calculator

# ALKALI_LAYERS_COURSE_SIZE=small (set by CI): looser relaxations, coarser GPAW
SMALL = os.environ.get("ALKALI_LAYERS_COURSE_SIZE", "full") == "small"
SETTINGS = RelaxSettings(
    fmax_eV_A=0.1 if SMALL else 0.05, max_steps=100, gallery_prescan=False
)

calc = make_calculator("mlip")
refs = ReferenceEnergies(calc)

# %% [markdown]
# ## The models
#
# MoS2 at the bottom (tag 1), the Na plane above it (tag 11), graphene on top
# (tag 2). Both phases share the supercell, so their energies compare directly.

# %%
models = {}
for phase in ("2H", "1T'"):
    models[phase, 0] = graphene_mos2("Na", 0, phase=phase)
    models[phase, 1] = graphene_mos2("Na", 1, phase=phase)
full = models["2H", 1]
info = full.info
print(
    full.get_chemical_formula(),
    f"x = {info['x_per_Mo']} Na per Mo,",
    f"strains: graphene {info['graphene_strain_pct']} %, "
    f"MoS2 {info['mos2_strain_pct']} %, Na {info['metal_strain_pct']} %",
)
fig, axes = plt.subplots(1, 2, figsize=(8, 3.5))
for ax, phase in zip(axes, ("2H", "1T'"), strict=True):
    plot_atoms(models[phase, 1], ax, rotation="-90x", radii=0.6)
    ax.set_title(f"graphene / Na / {phase}-MoS2")
    ax.set_axis_off()
plt.show()

# %% [markdown]
# ## Relax, then compare
#
# `E_int = [E(het + n Na) − E(het) − n μ_Na] / n` with the empty heterostructure of
# the same phase, and `ΔE = [E(2H + n Na) − E(1T' + n Na)] / n_Mo` (positive: 1T'
# lower).

# %%
energy = {}
for key, atoms in models.items():
    result = relax(atoms, calc, SETTINGS)
    energy[key] = result.energy_eV
    models[key] = result.atoms
    print(key, f"E = {result.energy_eV:.3f} eV, converged {result.converged}")
mu_na = refs.metal_eV_per_atom("Na")
n_na = full.get_chemical_symbols().count("Na")
n_mo = full.get_chemical_symbols().count("Mo")
for phase in ("2H", "1T'"):
    e_int = intercalation_energy_eV_per_metal(
        energy[phase, 1], energy[phase, 0], n_na, mu_na
    )
    print(f"{phase}: E_int = {e_int:+.3f} eV per Na")
for n in (0, 1):
    d_e = phase_energy_difference_eV_per_Mo(energy["2H", n], energy["1T'", n], n_mo)
    print(f"{'empty' if n == 0 else 'with Na'}: E(2H) - E(1T') = {d_e:+.3f} eV per Mo")

# %% [markdown]
# ## Electrons per Mo from a tiny GPAW calculation
#
# Bader charges of the all-electron density of the relaxed 2H model (one SCF at a
# 250 eV cutoff and k-point density 2, coarser at the CI size: enough for charges, not
# for energies). The
# electrons MoS2 received are minus the summed net charges of its Mo and S atoms.

# %%
work = models["2H", 1].copy()
log = os.path.join(tempfile.mkdtemp(), "gpaw-2H.txt")
tiny = GPAWSettings(
    ecut_eV=200.0 if SMALL else 250.0,
    kpt_density=1.0 if SMALL else 2.0,
    scf_energy_eV=1e-4,
    scf_density=1e-3,
)
gpaw, _ = gpaw_calculator(tiny, work, txt=log)
work.calc = gpaw
work.get_potential_energy()
bader = bader_charges(gpaw, gridrefinement=1)
charges = mos2_charges(work, bader.net_charges_e)
q_na = [
    q
    for q, s in zip(bader.net_charges_e, work.get_chemical_symbols(), strict=True)
    if s == "Na"
]
print(f"Na: {sum(q_na) / len(q_na):+.3f} e per atom (GPAW log: {log})")
print(
    f"MoS2 received {charges['electrons_per_Mo']:.3f} e per Mo "
    f"(S facing Na {charges['per_S_upper_e']:+.3f} e, far S "
    f"{charges['per_S_lower_e']:+.3f} e); 1T' criterion "
    f"{MOS2_1TPRIME_ELECTRONS_PER_MO} e/Mo reached: {charges['above_0_46_e']}"
)

# %% [markdown]
# Where do the Na electrons go? Graphene takes its share too: compare the sum of the
# carbon charges with what MoS2 received.

# %%
q_c = sum(
    q
    for q, s in zip(bader.net_charges_e, work.get_chemical_symbols(), strict=True)
    if s == "C"
)
print(
    f"graphene {-q_c:.3f} e, MoS2 {charges['electrons_per_Mo'] * n_mo:.3f} e, "
    f"Na gave {sum(q_na):.3f} e"
)

# %% [markdown]
# ## Exercises
#
# 1. Repeat with two Na layers (`graphene_mos2("Na", 2, phase=...)`): does the
#    charge per Mo grow, and does the phase preference change sign?
# 2. Li and K (`graphene_mos2("Li", 1)`): the supercells differ (see
#    `info["supercell"]`). Which metal gives MoS2 the most electrons per Mo?
# 3. Use the 1T' model for the Bader analysis: is the charge per Mo the same as on
#    2H? What does that say about using 0.46 e/Mo as a criterion?
# 4. Bader charges on a 250 eV grid are coarse. Raise the cutoff to 400 eV and use
#    `gridrefinement=2`: how much does the charge per Mo move?
