"""The one table of alkali-metal and host data used by every part of alkali_layers.

Everything that needs a mass, a lattice constant, a nearest-neighbour distance or a
starting gallery height reads it from :data:`METALS` (or :func:`metal_data`); nothing
else in the package hard-codes these numbers.

Sources
-------
* bcc lattice constants: ``ase.data.reference_states`` (experimental, low temperature),
  as tabulated in docs/science/geometry.md.
* Atomic masses: ``ase.data.atomic_masses`` (IUPAC standard atomic weights, g/mol).
* Close-packed geometry at bulk volume: an fcc crystal with the same volume per atom
  as bcc, ``a_fcc = (4 V_atom)**(1/3)``, nearest-neighbour distance ``a_fcc / sqrt(2)``
  and (111) layer spacing ``a_fcc / sqrt(3)``.
* Stage-1 GIC interlayer distances (the height of one metal-filled gallery, carbon plane
  to carbon plane): LiC6 3.70 A, KC8 5.35 A, RbC8 5.65 A, CsC8 5.94 A (Dresselhaus &
  Dresselhaus, Adv. Phys. 30, 139 (1981); docs/science/geometry.md).
  NaC6/NaC8 are not observed experimentally; 4.50 A is the DFT-D estimate used as a
  starting value (Nobuhara et al., J. Power Sources 243, 585 (2013) report 4.4-4.6 A).
* Experimental cohesive energies (eV/atom, Kittel, *Introduction to Solid State
  Physics*, 8th ed., table 3.1; docs/science/energies.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from ase.data import atomic_masses, atomic_numbers, covalent_radii, reference_states

#: Alkali metals supported by every builder, in order of increasing atomic number.
ALKALI_METALS: tuple[str, ...] = ("Li", "Na", "K", "Rb", "Cs")

#: Graphene lattice constant (A) and pristine bilayer / graphite interlayer distances.
GRAPHENE_A = 2.46
GRAPHENE_SPACING_AB = 3.35
GRAPHENE_SPACING_AA = 3.60
CARBON_MASS = float(atomic_masses[atomic_numbers["C"]])

_GIC_INTERLAYER_A = {"Li": 3.70, "Na": 4.50, "K": 5.35, "Rb": 5.65, "Cs": 5.94}
_COHESIVE_EXP_EV = {"Li": 1.63, "Na": 1.113, "K": 0.934, "Rb": 0.852, "Cs": 0.804}


@dataclass(frozen=True)
class MetalData:
    """Data of one alkali metal.  Lengths in A, masses in g/mol, energies in eV.

    Attributes
    ----------
    symbol : str
        Chemical symbol.
    mass_g_mol : float
        Standard atomic weight.
    bcc_a_A : float
        Experimental bcc lattice constant.
    gic_interlayer_A : float
        Carbon-plane to carbon-plane distance of a gallery holding one metal layer
        (stage-1 GIC); half of it is the starting metal-plane to carbon-plane distance.
    cohesive_energy_exp_eV : float
        Experimental cohesive energy per atom (positive number).
    """

    symbol: str
    mass_g_mol: float
    bcc_a_A: float
    gic_interlayer_A: float
    cohesive_energy_exp_eV: float

    @property
    def atomic_volume_A3(self) -> float:
        """Volume per atom of the bcc metal, ``a**3 / 2``."""
        return self.bcc_a_A**3 / 2.0

    @property
    def fcc_a_A(self) -> float:
        """fcc lattice constant at the bcc volume per atom, ``(4 V)**(1/3)``."""
        return (4.0 * self.atomic_volume_A3) ** (1.0 / 3.0)

    @property
    def close_packed_nn_A(self) -> float:
        """Nearest-neighbour distance of close-packed planes at bulk volume."""
        return self.fcc_a_A / math.sqrt(2.0)

    @property
    def close_packed_layer_spacing_A(self) -> float:
        """fcc(111) (= ideal hcp(0001)) layer spacing at bulk volume."""
        return self.fcc_a_A / math.sqrt(3.0)

    @property
    def bcc110_layer_spacing_A(self) -> float:
        """bcc(110) layer spacing, ``a / sqrt(2)``."""
        return self.bcc_a_A / math.sqrt(2.0)

    @property
    def metal_carbon_distance_A(self) -> float:
        """Starting distance between a metal plane and the adjacent carbon plane."""
        return self.gic_interlayer_A / 2.0

    @property
    def covalent_radius_A(self) -> float:
        """Covalent radius from ``ase.data.covalent_radii`` (for distance checks)."""
        return float(covalent_radii[atomic_numbers[self.symbol]])

    def layer_spacing_A(self, packing: str) -> float:
        """Spacing of successive metal planes for a packing ("fcc", "hcp", "bcc")."""
        check_packing(packing)
        if packing == "bcc":
            return self.bcc110_layer_spacing_A
        return self.close_packed_layer_spacing_A

    def gallery_height_A(self, n_layers: int, packing: str = "fcc") -> float:
        """Starting carbon-to-carbon gallery height holding ``n_layers`` metal planes.

        ``2 * metal_carbon_distance + (n_layers - 1) * layer_spacing``; for one layer
        this is the stage-1 GIC interlayer distance.
        """
        check_n_layers(n_layers, allow_zero=False)
        return self.gic_interlayer_A + (n_layers - 1) * self.layer_spacing_A(packing)


def _build_table() -> dict[str, MetalData]:
    table = {}
    for symbol in ALKALI_METALS:
        z = atomic_numbers[symbol]
        ref = reference_states[z]
        assert ref["symmetry"] == "bcc"
        table[symbol] = MetalData(
            symbol=symbol,
            mass_g_mol=float(atomic_masses[z]),
            bcc_a_A=float(ref["a"]),
            gic_interlayer_A=_GIC_INTERLAYER_A[symbol],
            cohesive_energy_exp_eV=_COHESIVE_EXP_EV[symbol],
        )
    return table


#: The element table: symbol -> :class:`MetalData`.
METALS: dict[str, MetalData] = _build_table()

#: --- measured and published reference values (validation and diagnosis) ---
KJ_PER_MOL_TO_EV = 1.0 / 96.485
#: stage-1 formation energies, eV per metal atom vs bcc metal and AB graphite,
#: vdW-optPBE (Wang, Selbach and Grande, RSC Adv. 4, 4069 (2014): LiC6 -16.4, NaC6
#: +20.8, NaC8 +19.9, KC8 -27.5 kJ/mol)
PUBLISHED_FORMATION_EV: dict[str, float] = {
    "LiC6": -16.4 * KJ_PER_MOL_TO_EV,
    "NaC6": 20.8 * KJ_PER_MOL_TO_EV,
    "NaC8": 19.9 * KJ_PER_MOL_TO_EV,
    "KC8": -27.5 * KJ_PER_MOL_TO_EV,
}
#: graphite c/2 (A; Baskin & Meyer, Phys. Rev. 100, 544 (1955)) and interlayer
#: binding (meV/atom; Zacharia et al., PRB 69, 155406 (2004): 52; Benedict et al.,
#: Chem. Phys. Lett. 286, 490 (1998): 35 (+15/-10))
GRAPHITE_SPACING_EXP_A = 3.354
#: graphite in-plane lattice constant (A; Baskin & Meyer, Phys. Rev. 100, 544 (1955):
#: a = 2.4612 A at room temperature)
GRAPHITE_A_EXP_A = 2.461
GRAPHITE_BINDING_EXP_MEV = (44.0, 52.0)
#: measured stage-1 repeat distances (A; Dresselhaus & Dresselhaus, Adv. Phys. 30,
#: 139 (1981))
GIC_C_EXPERIMENT_A: dict[str, float] = {"LiC6": 3.70, "KC8": 5.35}
#: Raman G line of graphite (E2g optical mode at Gamma, cm^-1; Tuinstra & Koenig,
#: J. Chem. Phys. 53, 1126 (1970)): 1582 cm^-1 = 47.43 THz
GRAPHITE_G_MODE_CM1 = 1582.0

#: The sign pattern of E_f (per metal atom, vs bcc metal and the empty bilayer) that
#: the multilayer-alkali DFT study of bilayer graphene reports (Chepkasov,
#: Ghorbani-Asl, Popov, Smet and Krasheninnikov, Nano Energy 75, 104927 (2020)):
#: one layer in AA bilayer graphene stable for Li, K, Rb, Cs and unstable for Na;
#: multilayers stable for K, Rb, Cs with E_f rising toward zero as layers are added,
#: slightly unstable for Li and Na; AB stacking slightly above AA.  Qualitative
#: statements (the comparison in analysis.sign_pattern), not numbers; the multilayer
#: statement is the study's abstract, the one-layer and AB statements are the
#: project's reading of the study and were not checked against its tables here.
BILAYER_STUDY_ONE_LAYER_STABLE: dict[str, bool] = {
    "Li": True,
    "Na": False,
    "K": True,
    "Rb": True,
    "Cs": True,
}
BILAYER_STUDY_MULTILAYER_STABLE: dict[str, bool] = {
    "Li": False,
    "Na": False,
    "K": True,
    "Rb": True,
    "Cs": True,
}

STACKINGS: tuple[str, ...] = ("AA", "AB")
PACKINGS: tuple[str, ...] = ("fcc", "hcp", "bcc")
MAX_LAYERS = 4

#: --- MoS2, the second host of the heterostructure study (docs/science/geometry.md) ---
#: bulk 2H-MoS2, P6_3/mmc, Mo at 2c (1/3, 2/3, 1/4), S at 4f (1/3, 2/3, z):
#: a = 3.160 A, c = 12.294 A, z(S) = 0.621 (X-ray, Wildervanck & Jellinek,
#: Z. anorg. allg. Chem. 328, 309 (1964); the values used by Boeker et al.,
#: PRB 64, 235305 (2001)).  The S-S thickness of one layer is 2 (3/4 - z) c =
#: 3.172 A and the Mo-S bond sqrt(a^2/3 + (thickness/2)^2) = 2.417 A.
MOS2_2H_A = 3.160
MOS2_2H_C_A = 12.294
MOS2_2H_Z_S = 0.621
#: bulk 1T-MoS2, P-3m1, a = 3.190 A (single-crystal X-ray, Fang et al., Angew.
#: Chem. Int. Ed. 57, 1232 (2018)); its S-S thickness follows from the 2H Mo-S bond.
MOS2_1T_A = 3.190
#: 1T': short Mo-Mo distance inside the zigzag chains, 2.8 A, against 3.8 A between
#: chains (EXAFS of single-layer MoS2, Gordon et al., PRB 65, 125407 (2002)); the
#: builder dimerises the 1T lattice to it (the relaxation sets the final value).
MOS2_1TPRIME_MO_MO_SHORT_A = 2.80
MOS2_PHASES: tuple[str, ...] = ("2H", "1T'", "1T")
#: Electrons per Mo above which 1T' becomes more stable than 2H (the charge analysis
#: of the multilayer-alkali graphene/MoS2 study, issue 18;
#: docs/science/phenomenon.md).
MOS2_1TPRIME_ELECTRONS_PER_MO = 0.46
#: Starting distance (A) between the graphene plane and the upper S plane of the empty
#: heterostructure: the graphite spacing (vdW-corrected DFT puts graphene 3.3-3.4 A
#: above the S plane); the relaxation sets it.
GRAPHENE_MOS2_SPACING_A = 3.35
#: Largest principal strain of graphene and of MoS2 in a heterostructure supercell.
DEFAULT_HOST_STRAIN = 0.02
#: 2D Young's moduli (N/m): graphene 340 (Lee et al., Science 321, 385 (2008)),
#: monolayer MoS2 180 +- 60 (Bertolazzi et al., ACS Nano 5, 9703 (2011)).  The
#: graphene/MoS2 mismatch is shared in inverse proportion (minimum elastic energy
#: of two sheets forced onto one cell): graphene takes Y_MoS2 / (Y_G + Y_MoS2).
GRAPHENE_2D_MODULUS_N_M = 340.0
MOS2_2D_MODULUS_N_M = 180.0


def graphene_strain_share() -> float:
    """Fraction of the graphene/MoS2 lattice mismatch taken by graphene (0.346)."""
    return MOS2_2D_MODULUS_N_M / (GRAPHENE_2D_MODULUS_N_M + MOS2_2D_MODULUS_N_M)


def mos2_s_s_thickness_2h_A() -> float:
    """S-S thickness (A) of one 2H layer from the bulk structure: ``2 (3/4 - z) c``."""
    return 2.0 * (0.75 - MOS2_2H_Z_S) * MOS2_2H_C_A


def mos2_mo_s_bond_A() -> float:
    """Mo-S bond length (A) of 2H-MoS2, ``sqrt(a^2 / 3 + (t / 2)^2)``."""
    return math.sqrt(MOS2_2H_A**2 / 3.0 + (mos2_s_s_thickness_2h_A() / 2.0) ** 2)


def check_mos2_phase(phase: object) -> str:
    """Validate a MoS2 phase name ("2H", "1T'" or "1T")."""
    if phase not in MOS2_PHASES:
        raise ValueError(
            f"unknown MoS2 phase {phase!r}; allowed: {', '.join(MOS2_PHASES)}"
        )
    return str(phase)


def mos2_lattice_constant_A(phase: str) -> float:
    """Hexagonal lattice constant (A) of a phase: 2H 3.160, 1T and 1T' 3.190 (1T'
    is built from the 1T lattice, see :data:`MOS2_1TPRIME_MO_MO_SHORT_A`)."""
    check_mos2_phase(phase)
    return MOS2_2H_A if phase == "2H" else MOS2_1T_A


def mos2_thickness_A(phase: str) -> float:
    """S-S thickness (A): 2H from the bulk structure (3.172); 1T/1T' from the same
    Mo-S bond on the 1T lattice, ``2 sqrt(b^2 - a^2 / 3)`` (3.131)."""
    if check_mos2_phase(phase) == "2H":
        return mos2_s_s_thickness_2h_A()
    a = mos2_lattice_constant_A(phase)
    return 2.0 * math.sqrt(mos2_mo_s_bond_A() ** 2 - a**2 / 3.0)


def metal_data(metal: str) -> MetalData:
    """The :class:`MetalData` of ``metal``; ``ValueError`` names the allowed ones."""
    check_metal(metal)
    return METALS[metal]


def check_metal(metal: object) -> str:
    """Validate an alkali-metal symbol (case-sensitive, e.g. ``"Na"``)."""
    if metal not in METALS:
        raise ValueError(
            f"unknown metal {metal!r}; allowed: {', '.join(ALKALI_METALS)}"
        )
    return str(metal)


def check_n_layers(n_layers: object, allow_zero: bool = True) -> int:
    """Validate a number of metal layers (0-4, or 1-4 when ``allow_zero`` is False)."""
    low = 0 if allow_zero else 1
    if (
        isinstance(n_layers, bool)
        or not isinstance(n_layers, int)
        or not low <= n_layers <= MAX_LAYERS
    ):
        raise ValueError(
            f"n_layers must be an integer from {low} to {MAX_LAYERS}, got {n_layers!r}"
        )
    return n_layers


def check_stacking(stacking: object) -> str:
    """Validate a graphene-sheet stacking ("AA" or "AB")."""
    if stacking not in STACKINGS:
        raise ValueError(
            f"unknown stacking {stacking!r}; allowed: {', '.join(STACKINGS)}"
        )
    return str(stacking)


def check_packing(packing: object) -> str:
    """Validate a metal packing ("fcc" = ABC, "hcp" = AB, "bcc" = bcc(110) planes)."""
    if packing not in PACKINGS:
        raise ValueError(f"unknown packing {packing!r}; allowed: {', '.join(PACKINGS)}")
    return str(packing)
