"""Teaching example: how hard is it for a Li atom to hop across graphene?

Builds a Li adatom in a hexagon centre (hollow) of a 3x3 graphene cell and in the
neighbouring hollow 2.46 A away, relaxes both, and joins them by a climbing-image
nudged elastic band (ASE's ``ase.mep.NEB``, improved tangent, IDPP start) with the
fast ML engine (SevenNet 7net-0 + D3(BJ)).  Prints the forward and backward
barriers (eV) and writes the band's energy profile to ``li_graphene_hop.png`` and
the images to ``li_graphene_hop/band-mlip.traj`` (``ase gui`` shows the hop).
About two minutes on a laptop:

    .venv/bin/python examples/li_graphene_hop.py

Compare: PBE puts the bridge about 0.3 eV above the hollow (Chan, Neaton & Cohen,
PRB 77, 235430 (2008): adsorption energies 1.10 eV hollow, 0.77 eV bridge); the
fast engine measured here gives a much flatter surface (0.07 eV), a reminder that a
universal potential's barriers need a DFT check (``barrier(..., engine=
DFTProtocol(...))`` refines the band with GPAW).
"""

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from ase.io import read  # noqa: E402
from ase.utils.forcecurve import fit_images  # noqa: E402

from alkali_layers.builders.pathways import graphene_hop  # noqa: E402
from alkali_layers.calculators.barriers import barrier  # noqa: E402


def main() -> None:
    initial, final = graphene_hop("Li")
    result = barrier(initial, final, n_images=5, folder="li_graphene_hop")
    if not result.converged:
        print(f"band not converged ({result.reason}); fmax {result.fmax_eV_A:.3f}")
        return
    print(
        f"Li on graphene, hollow -> bridge -> hollow: forward "
        f"{result.barrier_fwd_eV:.3f} eV, backward {result.barrier_bwd_eV:.3f} eV, "
        f"{result.total_force_calls} force calls, {result.wall_s:.0f} s"
    )
    band = read(f"li_graphene_hop/{result.images_file}", index=":")
    fig, ax = plt.subplots(figsize=(4.5, 3.2))
    fit_images(band).plot(ax=ax)  # ASE's NEB plot: images, tangents and spline
    fig.tight_layout()
    fig.savefig("li_graphene_hop.png", dpi=150)
    print("profile: li_graphene_hop.png")


if __name__ == "__main__":
    main()
