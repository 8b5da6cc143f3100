"""Command line: ``alkali-layers <verb> ...``.

Verbs
-----
build    write one model to a file (any ASE format, chosen by the extension)
run      run or resume a campaign (local workers, or myqueue on a cluster)
status   done / running / queued / failed / pending tasks of a campaign
collect  import finished task results into the campaign's ASE database
table    the campaign's table (CSV + Markdown) from its database
plot     the campaign's figure from its database

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


def _add_campaign_verbs(sub) -> None:
    spec_help = (
        "campaign spec: a campaign.toml file, its directory "
        "(e.g. runs/bilayer_graphene) "
        "or a campaign name under ./runs (e.g. bilayer-graphene)"
    )
    run = sub.add_parser(
        "run",
        help="run or resume a campaign",
        description=(
            "Write the task folders of a campaign and run every task that has no "
            "result yet (a finished task is never run again unless --force; a failed "
            "one only with --retry-failed).  Locally the results go into "
            "<campaign>/results.db as they arrive and table.csv, table.md and the "
            "figure are written at the end; with --backend myqueue the tasks are "
            "submitted and `collect` imports them later.  Formation energies in eV "
            "per metal atom, capacities in mAh/g, voltages in V vs M+/M."
        ),
    )
    run.add_argument("spec", help=spec_help)
    run.add_argument("--backend", default="local", help="local (default) or myqueue")
    run.add_argument(
        "--workers",
        type=int,
        default=2,
        help="local backend: worker processes sharing the cores (default 2)",
    )
    run.add_argument(
        "--mpi",
        type=int,
        default=1,
        help="local backend, GPAW: MPI ranks per task (mpiexec -n N; default 1)",
    )
    run.add_argument(
        "--cores",
        type=int,
        default=None,
        help="myqueue: cores per task (default: the spec's [resources])",
    )
    run.add_argument(
        "--time",
        default=None,
        help="myqueue: wall-time limit per task, e.g. 30m, 2h, 1d",
    )
    run.add_argument(
        "--force",
        action="store_true",
        help="rerun finished tasks too (their old results are kept aside)",
    )
    run.add_argument("--retry-failed", action="store_true", help="rerun failed tasks")
    for verb, text in (
        ("status", "done / running / queued / failed / pending tasks, with reasons"),
        ("collect", "import finished task results into the campaign database"),
        ("table", "write table.csv and table.md from the campaign database"),
        ("plot", "write the campaign's figure from its database"),
    ):
        p = sub.add_parser(verb, help=text, description=text + ".")
        p.add_argument("spec", help=spec_help)


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
    _add_campaign_verbs(sub)
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


def _campaign(spec: str):
    from .campaigns.campaign import Campaign
    from .campaigns.spec import SPEC_FILENAME

    path = Path(spec)
    if not path.exists():
        named = Path("runs") / spec.replace("-", "_")
        if (named / SPEC_FILENAME).is_file():
            path = named
    return Campaign(path)


def _run(args) -> int:
    from .campaigns.backends import LocalBackend, MyQueueBackend

    if args.backend == "local":
        backend = LocalBackend(args.workers, args.mpi)
    elif args.backend == "myqueue":
        backend = MyQueueBackend(args.cores, args.time)
    else:
        raise ValueError(f"unknown backend {args.backend!r}; allowed: local, myqueue")
    campaign = _campaign(args.spec)
    campaign.run(backend, force=args.force, retry_failed=args.retry_failed)
    return 0


def _campaign_verb(args) -> int:
    campaign = _campaign(args.spec)
    if args.verb == "status":
        print(campaign.status_report())
    elif args.verb == "collect":
        counts = campaign.collect()
        print(
            f"imported {counts.get('ok', 0)} results and {counts.get('failed', 0)} "
            f"failures into {campaign.store.path}"
            + (
                f"; {counts['waiting']} models wait for their references"
                if counts.get("waiting")
                else ""
            )
        )
    elif args.verb == "table":
        table = campaign.table()
        print(f"{len(table)} models in {campaign.root / 'table.md'}")
    else:
        path = campaign.plot()
        print(
            f"wrote {path}"
            if path
            else "no figure for this campaign (no results yet, "
            "or its analysis has no figure)"
        )
    return 0


def main(argv=None) -> int:
    """Entry point of the ``alkali-layers`` console script."""
    warnings.filterwarnings("ignore")
    args = build_parser().parse_args(argv)
    try:
        if args.verb == "build":
            return _build(args)
        if args.verb == "run":
            return _run(args)
        return _campaign_verb(args)
    except (ValueError, OSError, RuntimeError, UnknownFileTypeError) as err:
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
