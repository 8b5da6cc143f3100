"""Reference energies: the relaxed bcc metal (mu_M) and the relaxed pristine host.

* ``mu_M``: energy per atom (eV) of the bcc metal relaxed with a hydrostatic cell
  (primitive 1-atom cell); the metal's chemical potential in every formation energy.
* Host: energy per carbon atom (eV) of the pristine primitive host relaxed with the
  same protocol as the models (bilayer: positions, so the sheet spacing is free;
  graphite: positions and c).  ``E(host) = n_C * e_C`` for a model with ``n_C``
  carbons (energies of perfect periodic hosts are extensive).

Both are computed once per engine and relaxation settings and cached in memory by
:class:`ReferenceEnergies`; campaigns also store them in their database.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from ase import Atoms

from ..builders.intercalation import pristine_host
from ..builders.layers import bulk_metal
from .relax import RelaxResult, RelaxSettings, relax

#: References are tiny (1-4 atoms) and relaxed to this tighter force criterion: the
#: flat van der Waals minimum of a pristine bilayer moves by ~0.1 A between fmax
#: 0.05 and 0.01 eV/A, and a reference should be its true minimum.
REFERENCE_FMAX_EV_A = 0.005


def reference_settings(settings: RelaxSettings) -> RelaxSettings:
    """The model settings with fmax tightened to :data:`REFERENCE_FMAX_EV_A`."""
    return replace(
        settings,
        fmax_eV_A=min(settings.fmax_eV_A, REFERENCE_FMAX_EV_A),
        max_steps=max(settings.max_steps, 200),
    )


def metal_reference_atoms(metal: str) -> Atoms:
    """The unrelaxed bcc reference of ``metal``: primitive cell, table ``a``."""
    return bulk_metal(metal)


def reference_energy_per_unit(result: RelaxResult) -> float:
    """Energy per metal atom (bulk metal) or per carbon atom (host), eV."""
    symbols = result.atoms.get_chemical_symbols()
    if result.atoms.info.get("host") == "bulk":
        return result.energy_eV / len(symbols)
    n_c = symbols.count("C")
    if n_c != len(symbols):
        raise ValueError("a host reference must contain carbon only")
    return result.energy_eV / n_c


@dataclass
class ReferenceEnergies:
    """Relaxed reference energies for one engine, computed on first use.

    Parameters
    ----------
    calc : ase Calculator
        The engine used for the models too (consistency is required: same engine,
        same dispersion treatment).
    settings : RelaxSettings
        Relaxation settings of the models; references are relaxed with the same
        settings but fmax tightened to :data:`REFERENCE_FMAX_EV_A`.
    """

    calc: object
    settings: RelaxSettings = field(default_factory=RelaxSettings)
    results: dict[str, RelaxResult] = field(default_factory=dict)

    def _get(self, label: str, atoms: Atoms) -> float:
        if label not in self.results:
            settings = reference_settings(self.settings)
            result = relax(atoms, self.calc, settings)
            if not result.converged:
                raise RuntimeError(
                    f"reference {label} did not converge in {settings.max_steps} "
                    "steps; raise max_steps"
                )
            self.results[label] = result
        return reference_energy_per_unit(self.results[label])

    def metal_eV_per_atom(self, metal: str) -> float:
        """mu_M: energy per atom of the relaxed bcc metal (eV)."""
        return self._get(f"bulk-{metal}", metal_reference_atoms(metal))

    def host_eV_per_carbon(self, model: Atoms) -> float:
        """Energy per carbon (eV) of the relaxed pristine host of ``model``."""
        host = pristine_host(model)
        return self._get(f"{host.info['host']}-{host.info['stacking']}", host)
