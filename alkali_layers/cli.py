"""Command line: ``alkali-layers <verb> ...``.

Verbs
-----
build   write one model to a file (any ASE format, chosen by the extension)
table   run (or resume) a campaign and write its results table and figure

Units everywhere: lengths in A, energies in eV (formation energies per metal atom),
capacities in mAh/g, voltages in V vs M+/M.  Bad input prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

from ase.io.formats import UnknownFileTypeError

from .elements import ALKALI_METALS, MAX_LAYERS, PACKINGS, STACKINGS


class _Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (no usage dump)."""

    def error(self, message: str):  # noqa: D401 - argparse API
        print(f"{self.prog}: error: {message} (see --help)", file=sys.stderr)
        raise SystemExit(2)


def _csv_list(text: str, cast=str) -> tuple:
    try:
        return tuple(cast(x.strip()) for x in text.split(",") if x.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"cannot read {text!r}: {err}") from err


def _add_build(sub) -> None:
    p = sub.add_parser(
        "build",
        help="write one model to a file",
        description="Build a model and write it with ase.io (format from the "
        "extension: "
        ".extxyz keeps the metadata in the comment line; view with `ase gui FILE`).",
    )
    p.add_argument(
        "model",
        help="bilayer-graphene | graphite-intercalation | graphite | bulk-metal",
    )
    p.add_argument("--metal", help=f"alkali metal: {', '.join(ALKALI_METALS)}")
    p.add_argument(
        "--layers",
        type=int,
        default=0,
        help=f"metal layers in the bilayer, 0-{MAX_LAYERS} (default 0 = pristine)",
    )
    p.add_argument(
        "--stacking",
        default=None,
        help=f"graphene stacking: {', '.join(STACKINGS)} (default AA; AB for graphite)",
    )
    p.add_argument(
        "--packing",
        default="fcc",
        help=f"metal-plane stacking for >= 2 layers: {', '.join(PACKINGS)} "
        "(default fcc)",
    )
    p.add_argument(
        "--max-strain",
        type=float,
        default=0.02,
        help="largest principal strain on the metal planes, fraction (default 0.02)",
    )
    p.add_argument(
        "--single-layer",
        default="sqrt3",
        help="superstructure of one layer: sqrt3 (C6MC6) or 2x2 (C8MC8)",
    )
    p.add_argument(
        "--gallery-height",
        type=float,
        default=None,
        help="carbon-to-carbon gallery height in A (default from the element table)",
    )
    p.add_argument(
        "--vacuum", type=float, default=7.5, help="vacuum on each side, A (default 7.5)"
    )
    p.add_argument(
        "--stoichiometry",
        default=None,
        help="stage-1 GIC: e.g. LiC6, NaC6, NaC8, KC8, RbC8, CsC8",
    )
    p.add_argument("--cubic", action="store_true", help="bulk metal: 2-atom cubic cell")
    p.add_argument(
        "-o", "--output", required=True, help="output file, e.g. out.extxyz, out.cif"
    )


def _add_table(sub) -> None:
    p = sub.add_parser(
        "table",
        help="run or resume a campaign and write its table",
        description="Relax every model of the campaign with the fast engine "
        "(SevenNet 7net-0 + D3(BJ)), reusing finished results in <out>/results.db, and "
        "write table.csv, table.md and formation_energy.png.  Formation energies in eV "
        "per metal atom vs the relaxed bcc metal and the relaxed pristine bilayer; "
        "capacities in mAh/g (total and host mass); voltage steps in V vs M+/M.",
    )
    p.add_argument("campaign", help="bilayer-graphene")
    p.add_argument(
        "--out",
        default="runs/bilayer_graphene",
        help="output directory (default runs/bilayer_graphene)",
    )
    p.add_argument(
        "--metals",
        type=_csv_list,
        default=ALKALI_METALS,
        help="comma-separated metals (default all five)",
    )
    p.add_argument(
        "--layers",
        type=lambda s: _csv_list(s, int),
        default=(1, 2, 3, 4),
        help="comma-separated layer counts (default 1,2,3,4)",
    )
    p.add_argument(
        "--stackings",
        type=_csv_list,
        default=STACKINGS,
        help="comma-separated stackings (default AA,AB)",
    )
    p.add_argument(
        "--packing", default="fcc", help="metal packing for >= 2 layers (default fcc)"
    )
    p.add_argument(
        "--max-strain", type=float, default=0.02, help="metal strain bound (fraction)"
    )
    p.add_argument(
        "--fmax", type=float, default=0.02, help="force criterion, eV/A (default 0.02)"
    )
    p.add_argument(
        "--max-steps",
        type=int,
        default=500,
        help="step cap per relaxation (default 500)",
    )
    p.add_argument(
        "--no-gallery-prescan",
        action="store_true",
        help="start BFGS from the builder geometry instead of a rigid gallery scan",
    )
    p.add_argument(
        "--optimizer", default="BFGS", help="BFGS, LBFGS, FIRE or PreconLBFGS"
    )
    p.add_argument(
        "--workers",
        type=int,
        default=2,
        help="worker processes sharing the cores (default 2)",
    )
    p.add_argument(
        "--retry-failed", action="store_true", help="recompute failed models"
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="alkali-layers",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    from . import __version__

    parser.add_argument(
        "--version", action="version", version=f"alkali-layers {__version__}"
    )
    sub = parser.add_subparsers(dest="verb", required=True, parser_class=_Parser)
    _add_build(sub)
    _add_table(sub)
    return parser


def _build(args) -> int:
    from ase.io import write

    from .builders import bilayer_graphene, bulk_metal, graphite, graphite_intercalation

    if args.model == "bilayer-graphene":
        atoms = bilayer_graphene(
            args.metal,
            args.layers,
            args.stacking or "AA",
            args.packing,
            max_strain=args.max_strain,
            single_layer=args.single_layer,
            gallery_height_A=args.gallery_height,
            vacuum=args.vacuum,
        )
    elif args.model == "graphite-intercalation":
        atoms = graphite_intercalation(args.metal, args.stoichiometry)
    elif args.model == "graphite":
        atoms = graphite(args.stacking or "AB")
    elif args.model == "bulk-metal":
        atoms = bulk_metal(args.metal, cubic=args.cubic)
    else:
        raise ValueError(
            f"unknown model {args.model!r}; allowed: bilayer-graphene, "
            "graphite-intercalation, graphite, bulk-metal"
        )
    out = Path(args.output)
    write(out, atoms)
    info = atoms.info
    print(
        f"wrote {out}: {atoms.get_chemical_formula()} ({len(atoms)} atoms), "
        f"supercell {info.get('supercell')}, "
        f"metal strain {info.get('metal_strain_pct', 0)} %, "
        f"gallery {info.get('gallery_height_A', '-')} A"
    )
    return 0


def _table(args) -> int:
    if args.campaign != "bilayer-graphene":
        raise ValueError(
            f"unknown campaign {args.campaign!r}; allowed: bilayer-graphene"
        )
    from .calculators.relax import RelaxSettings
    from .campaigns.bilayer import run_bilayer_campaign

    relax = RelaxSettings(
        args.fmax, args.max_steps, args.optimizer, not args.no_gallery_prescan
    )
    table = run_bilayer_campaign(
        args.out,
        workers=args.workers,
        retry_failed=args.retry_failed,
        metals=args.metals,
        layers=args.layers,
        stackings=args.stackings,
        packing=args.packing,
        max_strain=args.max_strain,
        relax=relax,
    )
    print(f"{len(table)} models in {Path(args.out) / 'table.md'}")
    return 0


def main(argv=None) -> int:
    """Entry point of the ``alkali-layers`` console script."""
    warnings.filterwarnings("ignore")
    args = build_parser().parse_args(argv)
    try:
        if args.verb == "build":
            return _build(args)
        return _table(args)
    except (ValueError, OSError, UnknownFileTypeError) as err:
        print(f"alkali-layers: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(
            "alkali-layers: interrupted; finished results are kept, rerun to resume",
            file=sys.stderr,
        )
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
