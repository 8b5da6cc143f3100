"""Teaching example: how many sodium layers does bilayer graphene want?

Builds AA bilayer graphene holding 1, 2 and 3 layers of Na, relaxes each with the
fast ML engine (SevenNet 7net-0 + D3(BJ)), and prints formation energies (eV per Na
vs bcc Na and the pristine bilayer), the voltage of each step, and the capacities.
Runs in about a minute on a laptop:

    .venv/bin/python examples/bilayer_sodium.py
"""

from alkali_layers.analysis.capacity import atoms_capacity_mAh_g
from alkali_layers.analysis.voltage import successive_voltage_steps_V
from alkali_layers.builders import bilayer_graphene
from alkali_layers.calculators.energetics import formation_energy
from alkali_layers.calculators.references import ReferenceEnergies
from alkali_layers.engines import make_calculator


def main() -> None:
    calc = make_calculator("mlip")
    refs = ReferenceEnergies(calc)  # bcc Na and the pristine bilayer, relaxed once
    rows = []
    for n in (1, 2, 3):
        atoms = bilayer_graphene("Na", n, "AA")
        result = formation_energy(atoms, calc, references=refs)
        rows.append((n, atoms, result))
        print(
            f"{n} layer(s): {atoms.get_chemical_formula():10s} "
            f"E_f = {result.formation_energy_eV_per_metal_atom:+.3f} eV/Na "
            f"({result.relaxed.n_steps} BFGS steps)"
        )
    x = [r.n_metal / r.n_carbon for _, _, r in rows]
    ef = [r.formation_energy_eV_per_metal_atom for _, _, r in rows]
    for (n, atoms, _), v in zip(rows, successive_voltage_steps_V(x, ef), strict=True):
        print(
            f"step to {n} layer(s): {v:+.3f} V vs Na+/Na, capacity "
            f"{atoms_capacity_mAh_g(atoms, 'Na', 'total'):.0f} mAh/g (total mass)"
        )


if __name__ == "__main__":
    main()
