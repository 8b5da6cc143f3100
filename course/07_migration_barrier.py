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
# # 7 A migration barrier: lithium hopping on graphene and in a graphite gallery
#
# How fast can an alkali atom move? The energy it must climb to hop from one minimum
# to the next, the migration barrier, sets the hop rate through
# `k = ν* exp(−E_a / k_B T)`. The barrier is found with the climbing-image nudged
# elastic band (NEB): a chain of images between the two minima is relaxed
# perpendicular to the path while the highest image climbs to the saddle point
# ([barriers page](../science/barriers.md)).
#
# `alkali_layers.builders.pathways` builds the endpoints of the standard hops of the
# literature and `alkali_layers.calculators.barriers.barrier` runs the NEB on ASE's
# `ase.mep.NEB` (improved tangent, IDPP interpolation, climbing image) with the fast
# engine. A few minutes at full size (three hops), about a minute at the CI size.

# %%
import math
import os
import tempfile

import matplotlib.pyplot as plt
from ase.io import read
from ase.visualize.plot import plot_atoms

from alkali_layers.builders.pathways import gallery_hop, graphene_hop
from alkali_layers.calculators.barriers import barrier
from alkali_layers.engines import make_calculator

# ALKALI_LAYERS_COURSE_SIZE=small (set by CI): one hop, 3 images
SMALL = os.environ.get("ALKALI_LAYERS_COURSE_SIZE", "full") == "small"
N_IMAGES = 3 if SMALL else 5

calc = make_calculator("mlip")

# %% [markdown]
# ## The endpoints
#
# A Li adatom on one graphene sheet (3×3 cell, 18 C) hops from a hollow site to the
# next one over a C–C bridge. The builder returns two unrelaxed structures with the
# same atoms in the same order; `barrier` relaxes them first.

# %%
initial, final = graphene_hop("Li")
print(
    initial.get_chemical_formula(),
    initial.info["pathway"],
    f"hop {initial.info['hop_length_A']:.2f} Å",
)
fig, axes = plt.subplots(1, 2, figsize=(8, 3))
for ax, atoms, title in zip(axes, (initial, final), ("initial", "final"), strict=True):
    plot_atoms(atoms, ax, radii=0.5)
    ax.set_title(title)
    ax.set_axis_off()
plt.show()

# %% [markdown]
# ## The NEB
#
# The band, its checkpoints and the final images go to a folder; a killed run
# resumes from it, a finished one is read back without computing.

# %%
hops = {"on graphene": graphene_hop("Li")}
if not SMALL:
    hops["gallery 3.74 Å"] = gallery_hop("Li", 3.74)  # close to C6LiC6
    hops["gallery 6.79 Å"] = gallery_hop("Li", 6.79)  # close to C2LiC2
results, folders = {}, {}
for name, (a, b) in hops.items():
    folders[name] = tempfile.mkdtemp(prefix="course-neb-")
    r = barrier(a, b, calc=calc, n_images=N_IMAGES, folder=folders[name])
    results[name] = r
    if r.converged:
        print(
            f"{name}: forward {r.barrier_fwd_eV:.3f} eV, backward "
            f"{r.barrier_bwd_eV:.3f} eV, dE {r.delta_E_eV:+.3f} eV "
            f"({sum(r.force_calls.values())} force calls)"
        )
    else:
        print(f"{name}: band not converged (fmax {r.fmax_eV_A:.3f} eV/Å): no barrier")

# %% [markdown]
# The profile: the images (dots) and ASE's force-based spline through them (line),
# energies relative to the initial state. For a symmetric hop forward and backward
# barriers agree and ΔE ≈ 0.

# %%
fig, ax = plt.subplots(figsize=(6, 3.5))
for name, r in results.items():
    ax.plot(r.profile_path_A, r.profile_energy_eV, "-", label=name)
    ax.plot(r.path_A, r.energies_eV, "o", color=ax.lines[-1].get_color())
ax.set_xlabel("reaction coordinate (Å)")
ax.set_ylabel("E − E(initial) (eV)")
ax.legend()
plt.show()

r = results["on graphene"]
if r.images_file:  # the final band, in the NEB's folder
    saddle = read(os.path.join(folders["on graphene"], r.images_file), r.saddle_index)
    fig, ax = plt.subplots(figsize=(4, 3))
    plot_atoms(saddle, ax, radii=0.5)
    ax.set_title("the saddle image: Li over the C-C bridge")
    ax.set_axis_off()
    plt.show()

# %% [markdown]
# ## From a barrier to a diffusion coefficient
#
# Harmonic transition-state theory gives the hop rate; for uncorrelated hops on a
# surface (d = 2) with z equivalent neighbours at distance a,
# `D = z k a² / (2 d)`. The attempt frequency ν* would come from the phonons of the
# minimum and the saddle (Vineyard); here we *assume* a typical ν* = 10 THz and say
# so.

# %%
K_B_EV_K = 8.617333262e-5
NU_ASSUMED_HZ = 1e13  # assumption, not computed
T_K = 300.0
z, d = 6, 2  # hollows form a triangular lattice: 6 neighbours, two dimensions
a_A = initial.info["hop_length_A"]
for name, r in results.items():
    if not r.converged:
        continue
    k_hz = NU_ASSUMED_HZ * math.exp(-r.barrier_fwd_eV / (K_B_EV_K * T_K))
    d_cm2_s = z * k_hz * a_A**2 / (2 * d) * 1e-16
    print(f"{name}: k = {k_hz:.3g} hops/s, D = {d_cm2_s:.3g} cm²/s at {T_K:.0f} K")

# %% [markdown]
# (The same z and a are used for the gallery hops for simplicity; in a gallery the
# hop length is that of the gallery's own lattice, see `info["hop_length_A"]`.)
#
# ## Exercises
#
# 1. Na instead of Li (`graphene_hop("Na")`): larger or smaller barrier? The
#    literature's trend for graphite galleries is on the
#    [barriers page](../science/barriers.md).
# 2. Run the gallery hop at 3.4, 4.5 and 5.5 Å (`gallery_hop("Li", spacing)`) and
#    plot the barrier against the spacing. Where does it level off, and why?
# 3. Rerun one band with `climb=False`. By how much does the plain NEB underestimate
#    the barrier, and why?
# 4. In the widest gallery the barrier almost vanishes. Look at the relaxed endpoint:
#    is Li still in the middle of the gallery? Is the midplane a minimum, or does a
#    Li pushed 0.3 Å towards one sheet relax onto it (symmetry can hold a relaxation
#    on a saddle)? What does that do to the barrier?
# 5. What barrier would make Li diffuse 1 µm in one second at 300 K (use
#    `⟨r²⟩ = 2 d D t`)? Which of your hops is that fast? Compare the barrier on
#    graphene with published DFT values: is the fast engine trustworthy here?
