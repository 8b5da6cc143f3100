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
# # 2 Formation energies, and why the reference state matters
#
# Is a sodium multilayer inside bilayer graphene stable? "Stable" only means
# something against a reference. The package's convention
# ([energies page](../science/energies.md)) is
#
# ```
# E_f = [E(host + n M) − E(host) − n μ_M] / n        (eV per metal atom)
# ```
#
# with E(host) the relaxed pristine bilayer of the same stacking in the same supercell
# and μ_M the energy per atom of the relaxed **bcc metal**, all with the same engine.
# E_f < 0: the model is stable against bulk metal + the empty host.
#
# We relax Na in AA bilayer graphene with the fast engine (SevenNet 7net-0 +
# DFT-D3(BJ)) and then change the reference to see what a different convention would
# have claimed. About 2–3 minutes on a 2-core laptop.

# %%
import os

import matplotlib.pyplot as plt
from ase import Atoms

from alkali_layers.builders import bilayer_graphene
from alkali_layers.calculators.energetics import formation_energy
from alkali_layers.calculators.references import ReferenceEnergies
from alkali_layers.engines import make_calculator

# ALKALI_LAYERS_COURSE_SIZE=small (set by CI): 1-2 layers instead of 1-3
SMALL = os.environ.get("ALKALI_LAYERS_COURSE_SIZE", "full") == "small"
LAYERS = (1, 2) if SMALL else (1, 2, 3)

calc = make_calculator("mlip")  # SevenNet 7net-0 + D3(BJ), offline
refs = ReferenceEnergies(calc)  # bcc metals and pristine hosts, relaxed once, cached

# %% [markdown]
# ## Formation energies against bcc Na and the pristine bilayer

# %%
results = {}
for n in LAYERS:
    atoms = bilayer_graphene("Na", n, stacking="AA")
    r = formation_energy(atoms, calc, references=refs)
    results[n] = r
    print(
        f"{n} layer(s) {atoms.get_chemical_formula():>8s}: "
        f"E_f = {r.formation_energy_eV_per_metal_atom:+.3f} eV/Na, "
        f"converged {r.relaxed.converged} in {r.relaxed.n_steps} steps"
    )
mu_bcc = refs.metal_eV_per_atom("Na")
print(f"mu_Na (bcc, this engine) = {mu_bcc:.4f} eV/atom")

# %% [markdown]
# Check the bookkeeping by hand for one model: the formation energy is nothing but
# the three energies the result carries.

# %%
r = results[1]
by_hand = (r.energy_eV - r.host_energy_eV - r.n_metal * r.mu_metal_eV) / r.n_metal
print(f"{by_hand:+.6f} == {r.formation_energy_eV_per_metal_atom:+.6f}")
assert abs(by_hand - r.formation_energy_eV_per_metal_atom) < 1e-9

# %% [markdown]
# ## Reference 1: the isolated atom instead of the bulk metal
#
# Many papers report a *binding* (adsorption) energy relative to the free atom,
# E_b = [E(host + n M) − E(host) − n E(M atom)] / n. It is always much more negative
# than E_f: the two differ by exactly the cohesive energy of the metal,
# E_coh = E(atom) − μ_M (Kittel: 1.113 eV/atom for Na). A negative binding energy
# says nothing about whether the metal would rather form its own crystal.

# %%
atom = Atoms("Na", cell=[12, 12, 12], pbc=True)  # one atom in a large box
atom.calc = calc
e_atom = atom.get_potential_energy()
e_coh = e_atom - mu_bcc
print(f"cohesive energy of Na with this engine: {e_coh:.3f} eV/atom (exp. 1.113)")
for n, r in results.items():
    e_b = (r.energy_eV - r.host_energy_eV - r.n_metal * e_atom) / r.n_metal
    print(
        f"{n} layer(s): E_f = {r.formation_energy_eV_per_metal_atom:+.3f}, "
        f"E_b = {e_b:+.3f} eV/Na "
        f"(difference {r.formation_energy_eV_per_metal_atom - e_b:.3f})"
    )

# %% [markdown]
# (The machine-learned potential was trained on bulk and surface data; an isolated
# atom is far from its training set, so its E_coh is only indicative. With GPAW the
# isolated atom is computed spin-polarized, see the energies page.)
#
# ## Reference 2: per metal atom or per carbon?
#
# E_f is per metal atom. To compare models of different metal content, e.g. to ask
# which number of layers is the ground state at a given sodium chemical potential,
# convert to the energy per carbon, x·E_f with x = n_Na / n_C. The lowest per-atom
# value and the lowest per-carbon value need not belong to the same model.

# %%
x = [results[n].n_metal / results[n].n_carbon for n in LAYERS]
ef = [results[n].formation_energy_eV_per_metal_atom for n in LAYERS]
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.5))
ax1.plot(LAYERS, ef, "o-")
ax1.set_xlabel("Na layers")
ax1.set_ylabel("E_f (eV per Na)")
ax2.plot([0, *x], [0, *(xi * e for xi, e in zip(x, ef, strict=True))], "s-")
ax2.set_xlabel("x = Na per C")
ax2.set_ylabel("x E_f (eV per C)")
for ax in (ax1, ax2):
    ax.axhline(0, color="grey", lw=0.5)
fig.tight_layout()
plt.show()

# %% [markdown]
# ## Reference 3: the stacking of the empty host
#
# The host of an AB model is AB bilayer graphene. Taking the (different) AA bilayer
# as reference shifts every E_f by −(n_C/n) × [E_C(AA) − E_C(AB)] (E_C the energy per
# carbon of the relaxed pristine bilayer), a small number per carbon that becomes
# large per metal atom when there are few metal atoms.

# %%
ab = bilayer_graphene("Na", 1, stacking="AB")
aa = bilayer_graphene("Na", 1, stacking="AA")
e_c_ab = refs.host_eV_per_carbon(ab)
e_c_aa = refs.host_eV_per_carbon(aa)
n_c, n_na = ab.get_chemical_symbols().count("C"), ab.get_chemical_symbols().count("Na")
shift = -n_c / n_na * (e_c_aa - e_c_ab)  # E_f(AA host as reference) - E_f(AB host)
print(
    f"E per C: AB {e_c_ab:.4f}, AA {e_c_aa:.4f} eV; E_f(C6NaC6, AB) moves by "
    f"{shift:+.4f} eV/Na with the wrong (AA) host"
)

# %% [markdown]
# ## Exercises
#
# 1. Repeat the first table for K (`bilayer_graphene("K", n)`). Which metal comes
#    closer to stable? Compare with the committed campaign results in
#    `runs/bilayer_graphene/table.md` ([results page](../results/bilayer_graphene.md)).
# 2. Relax with a looser force criterion (`from alkali_layers.calculators.relax import
#    RelaxSettings`; `formation_energy(atoms, calc, RelaxSettings(fmax_eV_A=0.1),
#    refs)`). How much does E_f move, and why is the gallery height so sensitive?
# 3. Compute E_f for the stage-1 compounds `graphite_intercalation("Li", "LiC6")` and
#    `graphite_intercalation("Na", "NaC6")`. Which one does the engine call stable, and
#    what do experiment and DFT say ([DFT treatments](../science/dft.md))?
# 4. Why must the host, the model and the bulk metal all be computed with the same
#    engine and dispersion correction? Try mixing: take μ_Na from
#    `make_calculator("mlip", dispersion="none")` (no van der Waals term) and watch
#    E_f.
