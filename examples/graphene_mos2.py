"""Teaching example: sodium between MoS2 and graphene.

1. Builds the smallest graphene/MoS2 heterostructure (sqrt7 x sqrt7 graphene on 2x2
   MoS2, 4 Mo) holding 1, 2 and 3 Na atoms in one fcc(111) plane (x = 0.25, 0.5,
   0.75 Na per Mo), relaxes them, the empty heterostructure of the same cell and bcc
   Na with the fast engine (SevenNet 7net-0 + D3(BJ)), and prints the intercalation
   energy per Na and the 2H - 1T' energy per Mo.  A few minutes on a laptop.
2. With ``--charges``: one GPAW SCF per loading (fast preset, tiny cell, ~10-30 min
   each on one core) and the Bader charge received by MoS2 per Mo, plotted against
   x with the 0.46 e/Mo line of the 2H -> 1T' transition (``charge_per_Mo.png``).

    .venv/bin/python examples/graphene_mos2.py [--charges]
"""

import argparse

from alkali_layers.analysis.heterostructure import (
    intercalation_energy_eV_per_metal,
    mos2_charges,
    phase_energy_difference_eV_per_Mo,
)
from alkali_layers.builders.layers import bulk_metal
from alkali_layers.builders.mos2 import graphene_mos2
from alkali_layers.calculators.relax import RelaxSettings, relax
from alkali_layers.elements import MOS2_1TPRIME_ELECTRONS_PER_MO
from alkali_layers.engines import make_calculator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--charges", action="store_true", help="GPAW Bader charges")
    args = parser.parse_args()

    calc = make_calculator("mlip")
    settings = RelaxSettings(fmax_eV_A=0.05, max_steps=200)
    bcc = relax(bulk_metal("Na"), calc, settings)
    mu_na = bcc.energy_eV / len(bcc.atoms)
    relaxed = {}
    for phase in ("2H", "1T'"):
        empty = relax(graphene_mos2("Na", 0, phase=phase), calc, settings)
        for n in (1, 2, 3):
            atoms = graphene_mos2("Na", 1, phase=phase, n_metal=n)
            result = relax(atoms, calc, settings)
            relaxed[phase, n] = result
            e_int = intercalation_energy_eV_per_metal(
                result.energy_eV, empty.energy_eV, n, mu_na
            )
            print(
                f"{phase:3s} x = {atoms.info['x_per_Mo']:.2f} Na/Mo "
                f"({len(atoms)} atoms): E_int = {e_int:+.3f} eV/Na"
            )
    for n in (1, 2, 3):
        d_e = phase_energy_difference_eV_per_Mo(
            relaxed["2H", n].energy_eV, relaxed["1T'", n].energy_eV, 4
        )
        print(f"x = {n / 4:.2f}: E(2H) - E(1T') = {d_e:+.3f} eV/Mo")

    if args.charges:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        from alkali_layers.calculators.charges import bader_charges

        xs, qs = [], []
        for n in (1, 2, 3):
            atoms = relaxed["2H", n].atoms.copy()
            atoms.calc = make_calculator("gpaw", "fast", atoms=atoms, txt=None)
            atoms.get_potential_energy()
            bader = bader_charges(atoms.calc)
            q = mos2_charges(atoms, bader.net_charges_e)
            xs.append(n / 4)
            qs.append(q["electrons_per_Mo"])
            print(f"x = {n / 4:.2f}: MoS2 receives {qs[-1]:.3f} e per Mo (Bader)")
        fig, ax = plt.subplots(figsize=(5, 3.5))
        ax.plot(xs, qs, "o-", label="2H, Na, GPAW PBE+D3 (fast)")
        ax.axhline(MOS2_1TPRIME_ELECTRONS_PER_MO, color="red", ls="--", label="0.46")
        ax.set_xlabel("x (Na per Mo)")
        ax.set_ylabel("electrons per Mo")
        ax.legend()
        fig.tight_layout()
        fig.savefig("charge_per_Mo.png", dpi=150)


if __name__ == "__main__":
    main()
