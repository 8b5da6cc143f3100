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
# # 3 Capacities on two mass bases, and voltage steps along the hull
#
# A capacity is charge per mass, `Q = n F / (3.6 m)` in mAh/g, one electron per
# metal atom. *Which* mass is the first thing to check when two papers disagree
# ([capacities page](../science/capacity.md)):
#
# * **host basis**: m is the carbon only (the graphite convention: LiC6 = 372 mAh/g);
# * **total basis**: m includes the metal (the bilayer convention: C6LiC6 = 177 mAh/g).
#
# The voltage of a step between two compositions follows from formation energies,
# and only compositions on the **lower convex hull** appear in a voltage profile
# ([energies page](../science/energies.md#voltage)). This notebook uses the committed
# results of the main campaign (`runs/bilayer_graphene/results.db`), so it computes no
# energies and runs in seconds.

# %%
from pathlib import Path

import matplotlib.pyplot as plt

from alkali_layers.analysis.capacity import FARADAY_C_MOL, composition_capacity_mAh_g
from alkali_layers.analysis.hard_carbon import lower_convex_hull
from alkali_layers.analysis.voltage import successive_voltage_steps_V
from alkali_layers.campaigns.campaign import Campaign

# %% [markdown]
# ## Capacities by hand and with the package

# %%
m_c, m_li = 12.011, 6.94  # g/mol (IUPAC standard atomic weights)
print("LiC6, host basis :", FARADAY_C_MOL / (3.6 * 6 * m_c), "mAh/g")
print("LiC6, package    :", composition_capacity_mAh_g({"C": 6, "Li": 1}, "Li", "host"))
print("C6LiC6, total    :", FARADAY_C_MOL / (3.6 * (12 * m_c + m_li)), "mAh/g")
print(
    "C6LiC6, package  :", composition_capacity_mAh_g({"C": 12, "Li": 1}, "Li", "total")
)

# %% [markdown]
# The two bases diverge as the metal content grows: for a heavy metal like Cs the
# metal dominates the mass.

# %%
for metal, n_c in (("Li", 6), ("Na", 6), ("K", 8), ("Cs", 8)):
    host = composition_capacity_mAh_g({"C": n_c, metal: 1}, metal, "host")
    total = composition_capacity_mAh_g({"C": n_c, metal: 1}, metal, "total")
    print(f"{metal}C{n_c}: host basis {host:6.1f}, total basis {total:6.1f} mAh/g")

# %% [markdown]
# ## The committed campaign: formation energies of 1–4 layers
#
# `runs/bilayer_graphene/results.db` is an ASE database: one row per task (model or
# reference), with every number and the settings behind it (browse it with
# `ase db runs/bilayer_graphene/results.db -w`). Formation energies are not stored
# on the rows: the campaign computes them from the model and reference energies in
# the database (`Campaign.model_rows`, the same numbers as `table.csv`), and it
# skips rows that a rerun superseded.

# %%
ROOT = Path.cwd() if (Path.cwd() / "runs").is_dir() else Path.cwd().parent
campaign = Campaign(ROOT / "runs" / "bilayer_graphene", stream=False)
model_rows, _failed = campaign.model_rows()
rows = {}
for row in model_rows:
    key = (row["metal"], row["stacking"])
    rows.setdefault(key, []).append(
        (
            row["n_layers"],
            row["n_metal"],
            row["n_carbon"],
            row["formation_energy_eV_per_metal_atom"],
        )
    )
for key in rows:
    rows[key].sort()
for n_layers, n_m, n_c, ef in rows[("Na", "AA")]:
    print(f"Na {n_layers} layers: Na{n_m}C{n_c}  E_f = {ef:+.3f} eV/Na")

# %% [markdown]
# ## Voltage steps, and the hull
#
# Per carbon, the formation energy of a model is g(x) = x·E_f with x = n_M / n_C; the
# empty host is (0, 0). The voltage of a step x1 → x2 is `−[g(x2) − g(x1)]/(x2 − x1)`.
# Stepping through the layer counts in order gives one set of voltages; but a model
# *above* the lower convex hull of g(x) is never formed: the host goes directly to
# the next hull vertex, and the profile has fewer, different steps.


# %%
def hull_profile(metal, stacking="AA"):
    """(x, g) points, hull indices, and the hull steps (x1, x2, V)."""
    pts = [(0.0, 0.0)] + [
        (m / c, m / c * ef) for _, m, c, ef in rows[(metal, stacking)]
    ]
    x, g = zip(*pts, strict=True)
    hull = lower_convex_hull(x, g)
    steps = [
        (x[a], x[b], -(g[b] - g[a]) / (x[b] - x[a]))
        for a, b in zip(hull[:-1], hull[1:], strict=True)
    ]
    return x, g, hull, steps


for metal in ("Na", "K", "Cs"):
    data = rows[(metal, "AA")]
    naive = successive_voltage_steps_V(
        [m / c for _, m, c, _ in data], [ef for *_, ef in data]
    )
    x, g, hull, steps = hull_profile(metal)
    print(f"{metal}: layer by layer", [f"{v:+.3f}" for v in naive], "V")
    print(
        f"{metal}: along the hull",
        [f"{x1:.3f}->{x2:.3f}: {v:+.3f} V" for x1, x2, v in steps],
    )

# %%
fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
for metal, color in (("Na", "C0"), ("K", "C1"), ("Cs", "C2")):
    x, g, hull, steps = hull_profile(metal)
    axes[0].plot(x, g, "o", color=color, label=metal)
    axes[0].plot([x[i] for i in hull], [g[i] for i in hull], "-", color=color)
    # voltage vs capacity (total basis), stepped
    q, v = [], []
    for x1, x2, volt in steps:
        q += [
            composition_capacity_mAh_g({"C": 1, metal: xi}, metal, "total")
            for xi in (x1, x2)
        ]
        v += [volt, volt]
    axes[1].plot(q, v, "-", color=color, label=metal)
axes[0].set_xlabel("x = metal atoms per C")
axes[0].set_ylabel("g = x E_f (eV per C)")
axes[1].set_xlabel("capacity, total basis (mAh/g)")
axes[1].set_ylabel("V vs M+/M")
for ax in axes:
    ax.axhline(0, color="grey", lw=0.5)
    ax.legend()
fig.tight_layout()
plt.show()

# %% [markdown]
# Negative voltages mean the step is less favourable than plating bulk metal: with
# this engine most bilayer models are above zero formation energy
# ([results](../results/bilayer_graphene.md)), so these would not form
# electrochemically at all; the fast engine screens, DFT decides
# ([DFT results](../results/bilayer_graphene_dft.md)).
#
# ## Exercises
#
# 1. Which of the Na models lie above the hull? What happens to the profile if you
#    drop the 2-layer model?
# 2. Plot the same profile on the host basis. Which basis makes the bilayer look
#    better than graphite's 372 mAh/g, and is that a fair comparison?
# 3. Read the AB rows (`rows[("Na", "AB")]`). How much does stacking change the first
#    step's voltage?
# 4. The volumetric capacity of a bulk cell: `from alkali_layers.analysis.capacity
#    import atoms_volumetric_capacity_mAh_cm3` on `graphite_intercalation("Li",
#    "LiC6")`. Why does the package refuse it for a bilayer slab?
