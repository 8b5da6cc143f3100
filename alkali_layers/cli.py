"""Command line: ``alkali-layers <verb> ...``.

Verbs
-----
build    write one model to a file (any ASE format, chosen by the extension)
run      run or resume a campaign (local workers, or myqueue on a cluster)
status   done / running / queued / failed / pending tasks of a campaign
collect  import finished task results into the campaign's ASE database
table    the campaign's table (CSV + Markdown) from its database
plot     the campaign's figure from its database
rekey    re-key results stored before 2026-12-02 under a signed-zero key (proved)
converge GPAW cutoff / k-point convergence scan of one model
validate GPAW against experiment and published values (the runs/validation campaigns)
import-validation  adopt verified checkpoints of the pre-campaign validate into them
diagnose take a stage-1 formation energy apart one factor at a time (GPAW)
compare  formation energies of two campaigns model by model (e.g. ML vs DFT)
compare-engines  rank several campaigns (engines) against a reference campaign
charges  Bader charges and plane-averaged density differences of relaxed models (GPAW)
fill     sequential filling of a hard-carbon pore model: E(n) and voltage profile
finetune fine-tune the fast engine (SevenNet) on the DFT frames of campaigns
preset-gap  E_f and forces of a staged GPAW campaign at its two presets, per model

Units everywhere: lengths in A, energies in eV (formation energies per metal atom),
capacities in mAh/g, voltages in V vs M+/M.  Bad input prints one line and exits 2.
"""

from __future__ import annotations

import argparse
import sys
import warnings
from dataclasses import replace
from pathlib import Path

from ase.io.formats import UnknownFileTypeError

from .builders.intercalation import DEFAULT_MAX_STRAIN
from .calculators.relax import LAYERED_CELL_MODES
from .elements import ALKALI_METALS, MAX_LAYERS, PACKINGS, STACKINGS
from .mpi import init_mpi


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
    _add_model_arguments(p)
    _add_pore_arguments(p)
    p.add_argument(
        "-o", "--output", required=True, help="output file, e.g. out.extxyz, out.cif"
    )


def _add_model_arguments(p) -> None:
    p.add_argument(
        "model",
        help="bilayer-graphene | graphite-intercalation | graphite | bulk-metal "
        "| wedge-pore | closed-pore | graphene-mos2 | mos2",
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
    _add_max_strain(p)
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
        "--phase", default="2H", help="graphene-mos2, mos2: MoS2 phase 2H, 1T' or 1T"
    )
    p.add_argument(
        "--n-metal",
        type=int,
        default=None,
        help="graphene-mos2: partial loading, metal atoms kept (default: full planes)",
    )


def _add_compare(sub) -> None:
    p = sub.add_parser(
        "compare",
        help="compare the formation energies of two campaigns model by model",
        description="Match the models of two campaigns by label and report the "
        "formation energies (eV per metal atom) side by side with their differences, "
        "mean absolute and maximum deviation (e.g. ML vs DFT on identical models). "
        "Two 'heterostructure' campaigns are matched by metal, layers, loading, "
        "packing and phase, and compared by intercalation energy per metal atom and "
        "E(2H) - E(1T') per Mo.",
    )
    p.add_argument("spec_a", help="reference campaign A (e.g. the ML one)")
    p.add_argument("spec_b", help="campaign B (e.g. the DFT one)")
    p.add_argument("--out", required=True, help="Markdown report to write")
    p.add_argument(
        "--energies",
        action="store_true",
        help="also compare the total energies of the cells (eV; meaningful only when "
        "both campaigns compute them with the same treatment and settings, e.g. two "
        "relaxation protocols of one model)",
    )


def _add_compare_engines(sub) -> None:
    p = sub.add_parser(
        "compare-engines",
        help="rank several campaigns (engines) against a reference campaign",
        description="For each campaign SPEC: formation-energy errors (meV per metal "
        "atom: mean absolute, maximum, mean signed), sign disagreements and "
        "gallery-height errors (A) against REFERENCE on the models both finished; "
        "writes OUT/table.md, OUT/table.csv and OUT/formation_mae.png.",
    )
    p.add_argument("reference", help="the reference campaign (e.g. the GPAW one)")
    p.add_argument("specs", nargs="+", help="campaigns to rank")
    p.add_argument("--out", required=True, help="output directory")


def _add_validate(sub) -> None:
    p = sub.add_parser(
        "validate",
        help="validate the GPAW engine against experiment and published values",
        description="bcc Li-Cs lattice constants and cohesive energies, graphite "
        "interlayer distance and binding, LiC6/NaC6/NaC8/KC8 formation energies, "
        "side by side with reference values.  A front end of the validation "
        "campaigns (one per protocol and treatment, found below --out, e.g. "
        "runs/validation/relaxed_lattice/vdw_optpbe): it adopts the verified "
        "checkpoints of its pre-campaign version (OUT/logs), runs the unfinished tasks "
        "of the chosen metals in this process (under MPI: `GPAW_MPI_BACKEND=cgpaw "
        "mpiexec -n N alkali-layers validate ...`) and writes each campaign's "
        "table.md and the protocol's side-by-side table.md.  Equivalent: "
        "`alkali-layers run runs/validation/<protocol>/<treatment> --mpi N`.",
    )
    p.add_argument(
        "--out",
        default="runs/validation",
        help="directory holding the validation campaigns (default runs/validation)",
    )
    p.add_argument(
        "--preset",
        default="final",
        help="GPAW preset: only 'final', the campaigns' (edit a spec for others)",
    )
    p.add_argument(
        "--metals",
        type=_csv_list,
        default=ALKALI_METALS,
        help="comma-separated metals (default all five)",
    )
    p.add_argument(
        "--treatments",
        type=_csv_list,
        default=None,
        help="comma-separated van der Waals treatments (default all: "
        "PBE+D3(BJ), vdW-DF2, vdW-optPBE); finished ones are read back",
    )
    p.add_argument(
        "--layered-cell",
        choices=LAYERED_CELL_MODES,
        default="ac",
        help="cell degrees of freedom of graphite and the compounds: 'ac' the "
        "in-plane lattice and c (default), 'c' the stacking axis only (in-plane a "
        "held at 2.46 A, the original protocol)",
    )
    p.add_argument(
        "--li-frozen-core",
        action="store_true",
        help="keep Li 1s frozen (the standard PAW setup) instead of the li-sc setup "
        "with 1s in the valence (the original protocol)",
    )


def _add_diagnose(sub) -> None:
    p = sub.add_parser(
        "diagnose",
        help="take stage-1 formation energies apart one factor at a time (GPAW)",
        description="GPAW single points at the relaxed PBE + D3(BJ) geometries of a "
        "finished validation (OUT/results.json), changing one factor per row "
        "(dispersion, functional, Li setup, smearing, k points, metal and graphite "
        "references, compound c and a); writes OUT/diagnosis.md and "
        "OUT/diagnosis-<compound>.json, checkpoints every single point under "
        "OUT/diagnosis/.  Delta E_f in meV per metal atom.",
    )
    p.add_argument("--out", required=True, help="the validation directory")
    p.add_argument(
        "--compounds",
        type=_csv_list,
        default=("LiC6",),
        help="comma-separated compounds (default LiC6; NaC6, NaC8, KC8)",
    )
    p.add_argument(
        "--groups",
        type=_csv_list,
        default=(),
        help="only these groups of rows (e.g. 'dispersion,PAW setup'; default all)",
    )
    p.add_argument(
        "--treatment",
        default="PBE+D3(BJ)",
        help="baseline treatment, relaxed by the validation (default PBE+D3(BJ); "
        "e.g. vdW-optPBE)",
    )


def _add_converge(sub) -> None:
    p = sub.add_parser(
        "converge",
        help="GPAW cutoff and k-point convergence scan of one model",
        description="Relax a model and its references with the ML engine, then scan "
        "the GPAW plane-wave cutoff (at the densest k sampling) and the k-point "
        "density (at the highest cutoff) at that fixed geometry; report the change of "
        "the energy per atom and of the formation energy per metal atom (meV) "
        "relative to the most accurate setting.  Writes scan.csv, scan.md, scan.png. "
        "Run under MPI with `GPAW_MPI_BACKEND=cgpaw mpiexec -n N alkali-layers "
        "converge ...`.",
    )
    _add_model_arguments(p)
    p.add_argument(
        "--cutoffs",
        type=lambda s: _csv_list(s, float),
        default=(300.0, 400.0, 500.0, 600.0),
        help="eV, comma-separated",
    )
    p.add_argument(
        "--kpt-densities",
        type=lambda s: _csv_list(s, float),
        default=(2.0, 3.0, 4.0, 5.0),
        help="comma-separated",
    )
    p.add_argument(
        "--xc",
        default="optPBE-vdW",
        help="optPBE-vdW (default), vdW-DF2, or PBE (then with D3(BJ))",
    )
    p.add_argument("--out", required=True, help="output directory")


def _add_charges(sub) -> None:
    p = sub.add_parser(
        "charges",
        help="Bader charges and density differences of relaxed models (GPAW)",
        description="For every relaxed model of the given campaigns (their results.db "
        "'model' rows) or structure files: a GPAW single point at the stored geometry, "
        "Bader charges of the all-electron density (pybader), and the plane-averaged "
        "density difference drho(z) = rho(host+M) - rho(host) - rho(M) with dq_z per "
        "metal plane.  Charges in e, positive = electrons given away.  Writes "
        "charges.md/.csv, density_difference.png and layer_charges.png (+ CSV data); "
        "task folders under OUT/tasks keep GPAW logs and result.json, so a rerun "
        "resumes.  Run under MPI: `GPAW_MPI_BACKEND=cgpaw mpiexec -n N alkali-layers "
        "charges ...`.",
    )
    p.add_argument(
        "sources", nargs="+", help="campaign directories and/or structure files"
    )
    p.add_argument("--out", required=True, help="output directory")
    p.add_argument(
        "--engine",
        default="gpaw",
        help="gpaw (the only engine with an electron density)",
    )
    p.add_argument("--preset", default="final", help="GPAW preset (default final)")
    p.add_argument("--ecut", type=float, default=None, help="override cutoff, eV")
    p.add_argument(
        "--kpt-density", type=float, default=None, help="override k-point density"
    )
    p.add_argument(
        "--gridrefinement",
        type=int,
        default=2,
        choices=(1, 2, 4),
        help="all-electron density grid refinement (default 2)",
    )
    p.add_argument(
        "--cubes", action="store_true", help="also write densities and drho as cubes"
    )
    p.add_argument("--title", default="Charge transfer: Bader and drho(z) (GPAW)")


def _add_campaign_verbs(sub) -> None:
    spec_help = (
        "campaign spec: a campaign.toml file, its directory "
        "(e.g. runs/bilayer_graphene), "
        "a campaign name under ./runs (e.g. bilayer-graphene), or a directory "
        "without campaign.toml: every campaign below it (e.g. runs/validation)"
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
        (
            "rekey",
            "find results stored under a key that kept the sign of a zero "
            "coordinate (before 2026-12-02) and re-key those proved identical",
        ),
    ):
        p = sub.add_parser(verb, help=text, description=text + ".")
        p.add_argument("spec", help=spec_help)
        if verb == "rekey":
            p.add_argument(
                "--old-structures",
                default=None,
                help="folder of <campaign>.json files (label -> old key and "
                "structure, written by scripts/migrations/dump_task_structures.py "
                "with the old code): also re-key rows whose old structure is "
                "today's rotated or reflected (an equivalent supercell)",
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
    _add_campaign_verbs(sub)
    _add_converge(sub)
    _add_validate(sub)
    _add_compare_engines(sub)
    _add_diagnose(sub)
    _add_compare(sub)
    _add_charges(sub)
    _add_fill(sub)
    p = sub.add_parser(
        "import-fillings",
        help="import verified old filling results into a campaign's fill tasks",
        description="For every fill task of the campaign without a result, look for "
        "an old filling result (<job>.json + .traj, as the retired "
        "runs/hard_carbon/run.py wrote them) of the same metal, settings and pore: "
        "the empty pore relaxed now must match its first structure and energy, and "
        "mu_M must match; a verified one becomes the task's finished result, "
        "anything else is left to `run`.  Finished results are never overwritten.",
    )
    p.add_argument("spec", help="campaign spec (campaign.toml or its directory)")
    p.add_argument("--from", dest="source", required=True, help="folder of old results")
    p = sub.add_parser(
        "import-validation",
        help="adopt verified checkpoints of the earlier `validate` into its campaigns",
        description="For every unfinished task of the validation campaigns, look for "
        "the checkpoint the pre-campaign `alkali-layers validate` wrote "
        "(DIR/done-<GPAW settings hash>-<relax settings hash>/<tag>-<label>.json): "
        "adopted only when its GPAW and relaxation settings hashes, its label and "
        "its structure (stored, or rebuilt exactly where symmetry fixes every atom) "
        "match the task and the structure its builder makes now; anything else "
        "stays pending, with the reason printed.  Finished results are never "
        "overwritten.",
    )
    p.add_argument("spec", nargs="+", help="campaign(s), or a directory of campaigns")
    p.add_argument(
        "--from",
        dest="source",
        action="append",
        required=True,
        help="folder of old checkpoints (e.g. runs/validation/logs; repeatable)",
    )
    _add_finetune(sub)
    p = sub.add_parser(
        "preset-gap",
        help="E_f and forces of a staged GPAW campaign at its two presets",
        description="For every model of a finished staged GPAW campaign whose last "
        "relaxation step is its stored geometry: the formation energy (eV per "
        "metal atom) at the relaxation preset (that step and the references' last "
        "steps) against the final preset (the stored single points), and the "
        "force differences (eV/A); writes a Markdown table.",
    )
    p.add_argument("spec", help="campaign directory")
    p.add_argument("--out", required=True, help="Markdown report to write")
    return parser


def _model_from_args(args):
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
    elif args.model in ("graphene-mos2", "mos2"):
        from .builders.mos2 import graphene_mos2, mos2

        if args.model == "mos2":
            atoms = mos2(args.phase, vacuum=args.vacuum)
        else:
            atoms = graphene_mos2(
                args.metal,
                args.layers,
                args.packing,
                args.phase,
                n_metal=args.n_metal,
                max_strain=args.max_strain,
                vacuum=args.vacuum,
            )
    elif args.model in PORE_MODELS:
        atoms = _pore_from_args(args)
    else:
        raise ValueError(
            f"unknown model {args.model!r}; allowed: bilayer-graphene, "
            "graphite-intercalation, graphite, bulk-metal"
        )
    return atoms


def _build(args) -> int:
    from ase.io import write

    atoms = _model_from_args(args)
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


def _converge(args) -> int:
    from ase.parallel import parprint

    from .builders.intercalation import pristine_host
    from .builders.layers import bulk_metal
    from .calculators.references import reference_settings
    from .calculators.relax import RelaxSettings, relax
    from .engines import GPAWSettings, make_calculator
    from .workflows.convergence import convergence_scan, write_scan

    atoms = _model_from_args(args)
    base = GPAWSettings(xc=args.xc, dispersion="d3bj" if args.xc == "PBE" else "none")
    if args.xc == "PBE":  # the PBE + D3(BJ) scans of runs/convergence
        base = replace(base, setups="paw")
    ml = make_calculator("mlip")
    settings = RelaxSettings()
    parprint(f"ML pre-relaxation of {atoms.get_chemical_formula()} ...", flush=True)
    model = relax(atoms, ml, settings).atoms
    metal = atoms.info.get("metal") or ""
    refs = {}
    if metal and atoms.info.get("host") in ("bilayer_graphene", "graphite"):
        refs["metal_reference"] = relax(
            bulk_metal(metal), ml, reference_settings(settings)
        ).atoms
        refs["host_reference"] = relax(
            pristine_host(atoms), ml, reference_settings(settings)
        ).atoms
    out = Path(args.out)
    points = convergence_scan(
        model,
        base,
        args.cutoffs,
        args.kpt_densities,
        log_dir=out if _is_master() else None,
        checkpoint=out / "points.csv",
        **refs,
    )
    title = (
        f"{model.get_chemical_formula()} ({atoms.info.get('host', '')}"
        f"{', ' + metal if metal else ''}): GPAW {args.xc}"
        f"{' + D3(BJ)' if args.xc == 'PBE' else ''}"
    )
    write_scan(
        points,
        out,
        title,
        "Geometry: relaxed with SevenNet 7net-0 + D3(BJ) (fixed during the scan); "
        f"smearing FD {base.smearing_eV} eV; SCF energy {base.scf_energy_eV} eV "
        "per valence electron.",
    )
    parprint(f"wrote {out / 'scan.md'}")
    return 0


def _validate(args) -> int:
    from .campaigns.validation_import import run_validation_campaigns
    from .workflows.validation import TREATMENTS

    names = args.treatments or tuple(TREATMENTS)
    unknown = [n for n in names if n not in TREATMENTS]
    if unknown:
        raise ValueError(
            f"unknown treatment(s) {unknown}; allowed: {', '.join(TREATMENTS)}"
        )
    if args.preset != "final":
        raise ValueError(
            "the validation campaigns use the 'final' preset; for another, copy a "
            "spec under runs/validation and edit its [engine]"
        )
    run_validation_campaigns(
        Path(args.out),
        names,
        metals=args.metals,
        layered_cell=args.layered_cell,
        li_semicore=not args.li_frozen_core,
        stream=sys.stdout if _is_master() else None,
    )
    return 0


def _diagnose(args) -> int:
    import json

    from .analysis.diagnosis import write_diagnosis_table
    from .workflows.diagnosis import (
        baseline_settings,
        diagnose,
        geometry_from_validation,
    )
    from .workflows.validation import COMPOUNDS

    base = baseline_settings(args.treatment)  # checks the treatment's name
    out = Path(args.out)
    stored = out / "results.json"
    if not stored.exists():
        raise ValueError(
            f"{stored} not found: run `alkali-layers validate --out {out}` first "
            "(the diagnosis starts from its relaxed geometries)"
        )
    results = json.loads(stored.read_text())
    metals = dict((formula, metal) for metal, formula in COMPOUNDS)
    unknown = [c for c in args.compounds if c not in metals]
    if unknown:
        raise ValueError(f"unknown compound(s) {unknown}; allowed: {', '.join(metals)}")
    done = []
    for formula in args.compounds:
        metal = metals[formula]
        geometry = geometry_from_validation(results, metal, formula, args.treatment)
        done.append(
            diagnose(
                metal,
                formula,
                geometry,
                out,
                base,
                only_groups=tuple(args.groups),
                treatment=args.treatment,
            )
        )
    if _is_master():
        tables = sorted(out.glob("diagnosis-*.json"))
        write_diagnosis_table(
            [json.loads(p.read_text()) for p in tables], out / "diagnosis.md"
        )
        print(f"wrote {out / 'diagnosis.md'}")
    return 0


def _compare_engines(args) -> int:
    from .analysis.compare import engine_summary, write_engine_summary

    reference = _campaign(args.reference)
    ref_rows = reference.model_rows()[0]
    summaries = []
    for spec in args.specs:
        campaign = _campaign(spec)
        summaries.append(
            engine_summary(
                campaign.spec.engine.describe(), campaign.model_rows()[0], ref_rows
            )
        )
    path = write_engine_summary(
        summaries, Path(args.out), reference.spec.engine.describe()
    )
    print(f"wrote {path}")
    return 0


def _compare(args) -> int:
    from .analysis.compare import compare_rows, write_comparison

    a, b = _campaign(args.spec_a), _campaign(args.spec_b)
    if a.spec.analysis == b.spec.analysis == "heterostructure":
        return _compare_heterostructures(a, b, args.out)
    rows_a, rows_b = a.model_rows()[0], b.model_rows()[0]
    result = compare_rows(rows_a, rows_b)
    more = [
        (q, compare_rows(rows_a, rows_b, q))
        for q in ("gallery_height_A", "gallery_force_eV_A")
        + (("energy_eV",) if args.energies else ())
    ]
    write_comparison(
        result,
        args.out,
        a.spec.name,
        b.spec.name,
        more=[(q, res) for q, res in more if res["pairs"] or q == "gallery_height_A"],
        notes=[
            f"- {c.spec.name} (`{c.root}`): {c.spec.engine.describe()}; "
            f"relaxation {c.spec.relax.describe()}"
            for c in (a, b)
        ],
    )
    energies = dict(more).get("energy_eV")
    if result["mae"] is None and energies is not None and energies["pairs"]:
        print(
            f"{len(energies['pairs'])} models: total energies differ by "
            f"{1000 * energies['mean']:+.0f} meV per cell on average; wrote {args.out}"
        )
    elif result["mae"] is None:
        print(f"no model is finished in both campaigns; wrote {args.out}")
    else:
        print(
            f"{len(result['pairs'])} models: mean absolute deviation "
            f"{1000 * result['mae']:.0f} meV/atom, max {1000 * result['max_abs']:.0f}; "
            f"wrote {args.out}"
        )
    return 0


def _compare_heterostructures(a, b, out) -> int:
    """Intercalation energies and 2H - 1T' per Mo of two "heterostructure"
    campaigns, model by model (metal, layers, loading, packing, phase)."""
    from .analysis.compare import compare_rows, write_comparison
    from .campaigns.kinds.heterostructure import heterostructure_rows

    table_a, table_b = heterostructure_rows(a)[0], heterostructure_rows(b)[0]
    result = compare_rows(table_a, table_b, "intercalation_energy_eV")
    phase = compare_rows(table_a, table_b, "dE_2H_minus_1Tp_eV_per_Mo")
    write_comparison(
        result,
        out,
        a.spec.name,
        b.spec.name,
        "intercalation_energy_eV",
        more=[("dE_2H_minus_1Tp_eV_per_Mo", phase)],
        notes=[
            f"- {c.spec.name} (`{c.root}`): {c.spec.engine.describe()}" for c in (a, b)
        ]
        + [
            "- models: metal-layers L-metal atoms-packing-phase; intercalation energy"
            " per metal atom, 2H - 1T' per Mo (> 0: 1T' lower); differences "
            f"{b.spec.name} - {a.spec.name}",
        ],
    )
    if result["mae"] is None:
        print(f"no model is finished in both campaigns; wrote {out}")
    else:
        print(
            f"{len(result['pairs'])} models: intercalation energies differ by "
            f"{1000 * result['mae']:.0f} meV per metal atom (mean absolute), max "
            f"{1000 * result['max_abs']:.0f}; wrote {out}"
        )
    return 0


def _charges(args) -> int:
    from .analysis.charges import write_charge_outputs
    from .campaigns.charges import jobs_from_sources, run_charges
    from .engines import gpaw_settings

    if args.engine != "gpaw":
        raise ValueError(
            f"charges need an electron density, which the {args.engine!r} engine does "
            "not have; use the DFT engine: --engine gpaw"
        )
    overrides = {}
    if args.ecut is not None:
        overrides["ecut_eV"] = args.ecut
    if args.kpt_density is not None:
        overrides["kpt_density"] = args.kpt_density
    settings = gpaw_settings(args.preset, **overrides)
    jobs = jobs_from_sources(args.sources)
    out = Path(args.out)
    if _is_master():
        out.mkdir(parents=True, exist_ok=True)
        print(
            f"charges: {len(jobs)} models, {settings.describe()}, all-electron "
            f"grid refinement {args.gridrefinement}",
            flush=True,
        )
    results = run_charges(jobs, out, settings, args.gridrefinement, args.cubes)
    if _is_master():
        notes = [
            f"{settings.describe()} [{settings.settings_hash()}], single points "
            "at the stored geometries of: " + ", ".join(args.sources) + "; "
            f"all-electron density at grid refinement {args.gridrefinement}; Bader "
            "partitioning by pybader.",
        ]
        paths = write_charge_outputs(results, out, args.title, notes)
        n_ok = sum(r["status"] == "ok" for r in results)
        print(f"{n_ok}/{len(results)} models analysed; wrote {paths[1]}")
    return 0 if all(r["status"] == "ok" for r in results) else 1


def _is_master() -> bool:
    from ase.parallel import world

    return world.rank == 0


def _campaign(spec: str):
    from .campaigns.campaign import Campaign
    from .campaigns.spec import SPEC_FILENAME

    path = Path(spec)
    if not path.exists():
        named = Path("runs") / spec.replace("-", "_")
        if (named / SPEC_FILENAME).is_file():
            path = named
    return Campaign(path)


def _campaigns(spec: str) -> list:
    """The campaign ``spec`` names or, for a directory without a campaign.toml,
    every campaign below it (e.g. runs/validation: one per protocol and
    treatment), in path order."""
    from .campaigns.spec import SPEC_FILENAME

    path = Path(spec)
    if path.is_dir() and not (path / SPEC_FILENAME).is_file():
        below = sorted(
            p.parent
            for p in path.rglob(SPEC_FILENAME)
            if "tasks" not in p.relative_to(path).parts
        )
        if below:
            return [_campaign(str(p)) for p in below]
    return [_campaign(spec)]


def _run(args) -> int:
    from .campaigns.backends import LocalBackend, MyQueueBackend

    if args.backend == "local":
        backend = LocalBackend(args.workers, args.mpi)
    elif args.backend == "myqueue":
        backend = MyQueueBackend(args.cores, args.time)
    else:
        raise ValueError(f"unknown backend {args.backend!r}; allowed: local, myqueue")
    for campaign in _campaigns(args.spec):
        campaign.run(backend, force=args.force, retry_failed=args.retry_failed)
    return 0


def _campaign_verb(args) -> int:
    for campaign in _campaigns(args.spec):
        _one_campaign_verb(args, campaign)
    return 0


def _one_campaign_verb(args, campaign) -> None:
    if args.verb == "status":
        print(campaign.status_report())
    elif args.verb == "rekey":
        from .campaigns.rekey import read_old_tasks, rekey_campaign, rekey_equivalent

        name = campaign.spec.name
        if args.old_structures:  # exact and fast: before the sign search
            old = read_old_tasks(Path(args.old_structures) / f"{name}.json")
            print(rekey_equivalent(campaign, old).summary(name, "equivalent cell"))
        print(rekey_campaign(campaign).summary(name))
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
        table = campaign.write_outputs()  # the spec's layout: tables and figures
        print(f"{len(table)} models in {campaign.root / 'table.md'}")
    elif campaign.spec.analysis not in ("bilayer", "formation"):
        campaign.write_outputs()  # other layouts write their figures with the tables
        print(f"wrote the tables and figures of layout {campaign.spec.analysis!r}")
    else:
        path = campaign.plot()
        print(
            f"wrote {path}"
            if path
            else "no figure for this campaign (no results yet, "
            "or its analysis has no figure)"
        )


# ------------------------------------------------------------ hard-carbon pores
PORE_MODELS = ("wedge-pore", "closed-pore")


def _add_max_strain(p) -> None:
    p.add_argument(
        "--max-strain",
        type=float,
        default=DEFAULT_MAX_STRAIN,
        help="largest principal in-plane strain of the metal planes (bilayer "
        "multilayers, pore fillings), as a fraction (default "
        f"{DEFAULT_MAX_STRAIN}); a model that would need more is refused with the "
        "size that fits",
    )


def _add_pore_arguments(p) -> None:
    g = p.add_argument_group(
        "hard-carbon pores (models wedge-pore, closed-pore; widths in nm)"
    )
    g.add_argument(
        "--width",
        type=float,
        default=None,
        help="pore width in nm: closed-pore carbon plane to plane (default 1.0); "
        "wedge-pore extent across the stack (default 3.70)",
    )
    g.add_argument(
        "--depth",
        type=float,
        default=0.74,
        help="wedge-pore edge-to-edge depth in nm (default 0.74)",
    )
    g.add_argument(
        "--walls", type=int, default=2, help="closed-pore sheets per wall (default 2)"
    )
    g.add_argument(
        "--size",
        type=lambda t: _csv_list(t, int),
        default=(4, 4),
        help="closed-pore in-plane size in rectangular graphene cells, e.g. 4,4",
    )
    g.add_argument(
        "--vacancies",
        type=_csv_list,
        default=(),
        help="comma list of single/double vacancies facing the pore",
    )
    g.add_argument("--bare", action="store_true", help="wedge-pore: bare edges")
    g.add_argument("--seed", type=int, default=0, help="vacancy placement seed")
    g.add_argument(
        "--fill-mode",
        default=None,
        help="put --metal into the pore: cluster, plate or sandwich "
        "(--layers layers, default all that fit; --n-atoms to take fewer)",
    )
    g.add_argument("--n-atoms", type=int, default=None, help="metal atoms to place")
    g.add_argument(
        "--periodic-cells",
        type=int,
        default=2,
        help="wedge-pore: graphene cells along the periodic direction (default 2; "
        "metal rows need more to fit within --max-strain)",
    )


def _pore_from_args(args):
    from .builders import closed_pore, fill_pore, wedge_pore

    if args.model == "wedge-pore":
        atoms = wedge_pore(
            pore_width_nm=3.70 if args.width is None else args.width,
            pore_depth_nm=args.depth,
            terminate=not args.bare,
            vacancies=args.vacancies,
            seed=args.seed,
            periodic_cells=args.periodic_cells,
        )
    else:
        atoms = closed_pore(
            1.0 if args.width is None else args.width,
            wall_sheets=args.walls,
            size=args.size,
            vacancies=args.vacancies,
            seed=args.seed,
        )
    if getattr(args, "fill_mode", None):
        if not args.metal:
            raise ValueError("--fill-mode needs --metal")
        atoms = fill_pore(
            atoms,
            args.metal,
            args.layers or None,
            args.n_atoms,
            args.fill_mode,
            max_strain=args.max_strain,
        )
    return atoms


def _add_fill(sub) -> None:
    p = sub.add_parser(
        "fill",
        help="fill a pore model with metal step by step (ML engine)",
        description="Sequential filling of a hard-carbon pore (wedge-pore or "
        "closed-pore): at each step candidate sites (edge, vacancy, interlayer, pore "
        "interior; cluster/plate/sandwich growth) are ranked by short "
        "pre-relaxations (--rank-steps), the best --relax are relaxed, the lowest "
        "kept.  Writes E(n) and the path as JSON (+ .traj) and prints the voltage "
        "profile.  After every step the result so far goes to <output "
        "stem>.partial.json (+ .traj); rerunning the same command resumes from it.  "
        "Voltage profile: V vs M+/M along the lower "
        "convex hull of E(n) - n mu_M (mu_M = relaxed bcc metal, same engine), "
        "capacity in mAh/g per gram of host (C + H); plateau = (0, 0.1] V.",
    )
    p.add_argument("model", help=" | ".join(PORE_MODELS))
    p.add_argument("--metal", required=True, help=", ".join(ALKALI_METALS))
    _add_pore_arguments(p)
    p.add_argument("--n-max", type=int, required=True, help="stop at this many atoms")
    from .workflows.filling import DEFAULT_FILL_RELAX, FillingSettings

    # defaults None: FillingSettings and DEFAULT_FILL_RELAX hold the defaults (one
    # source of truth); the help texts read them from there
    defaults = FillingSettings()
    p.add_argument(
        "--atoms-per-step",
        type=int,
        default=None,
        help=f"metal atoms added per step (default {defaults.atoms_per_step})",
    )
    p.add_argument(
        "--candidates",
        type=int,
        default=None,
        help=f"candidates per step (default {defaults.max_candidates})",
    )
    p.add_argument(
        "--relax",
        type=int,
        default=None,
        help=f"candidates fully relaxed (default {defaults.n_relax})",
    )
    p.add_argument(
        "--rank-steps",
        type=int,
        default=None,
        help="optimizer steps of the ranking pre-relaxation, 0: single points "
        f"(default {defaults.rank_steps})",
    )
    p.add_argument(
        "--fmax",
        type=float,
        default=None,
        help=f"eV/A (default {DEFAULT_FILL_RELAX.fmax_eV_A}; step cap "
        f"{DEFAULT_FILL_RELAX.max_steps})",
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads")
    p.add_argument("-o", "--output", required=True, help="result JSON file")


def _fill(args) -> int:
    from .analysis.hard_carbon import split_slope_plateau
    from .engines import make_calculator
    from .workflows.filling import (
        DEFAULT_FILL_RELAX,
        FillingResult,
        FillingSettings,
        sequential_filling,
    )

    if args.model not in PORE_MODELS:
        raise ValueError(
            f"unknown pore model {args.model!r}; allowed: {', '.join(PORE_MODELS)}"
        )
    args.layers, args.fill_mode = 0, None
    pore = _pore_from_args(args)
    given = {
        "atoms_per_step": args.atoms_per_step,
        "max_candidates": args.candidates,
        "n_relax": args.relax,
        "rank_steps": args.rank_steps,
    }
    relax = DEFAULT_FILL_RELAX
    if args.fmax is not None:
        relax = replace(relax, fmax_eV_A=args.fmax)
    settings = FillingSettings(
        n_max=args.n_max,
        seed=args.seed,
        relax=relax,
        **{name: value for name, value in given.items() if value is not None},
    )
    out = Path(args.output)
    if out.exists():
        raise ValueError(
            f"{out} exists (a finished filling); choose another --output or delete it"
        )
    partial = out.with_name(out.stem + ".partial.json")
    resume = partial if partial.exists() else None
    if resume is not None:
        print(f"resuming from {partial}")
    calc = make_calculator("mlip", threads=args.threads)
    res = sequential_filling(
        pore,
        args.metal,
        calc,
        settings,
        progress=print,
        checkpoint=lambda r: r.write(partial),
        resume=resume,
    )
    path = res.write(out)
    FillingResult.discard(partial)  # the finished result holds every step
    prof = res.voltage_profile()
    split = split_slope_plateau(prof)
    for s in prof.steps:
        print(
            f"  {s.n1:4.0f} -> {s.n2:4.0f} {args.metal}: {s.voltage_V:+.3f} V  "
            f"{s.capacity1_mAh_g:7.1f} -> {s.capacity2_mAh_g:7.1f} mAh/g (host)"
        )
    pv = split.plateau_voltage_V
    print(
        f"wrote {path}: sloping {split.sloping_mAh_g:.1f} mAh/g, plateau "
        f"{split.plateau_mAh_g:.1f} mAh/g"
        + (f" at {pv:.3f} V" if pv is not None else "")
    )
    return 0


def _add_finetune(sub) -> None:
    from .engines.finetune import FinetuneSettings

    defaults = FinetuneSettings()
    p = sub.add_parser(
        "finetune",
        help="fine-tune SevenNet on the DFT frames of campaigns (CPU)",
        description="Collect DFT energies and forces (GPAW relaxation steps in "
        "tasks/*/gpaw-relax.traj, final single points in results.db; or extxyz "
        "files of your own), hold out whole models for validation, fine-tune a "
        "shipped SevenNet checkpoint with SevenNet's trainer and write "
        "checkpoint.pth + finetune.json to --out.  Use it in a campaign with "
        '[engine] finetuned = "<out>/finetune.json".  Rerunning resumes a killed '
        "fine-tune; a finished one is never overwritten.",
    )
    p.add_argument("sources", nargs="+", help="campaign directories, frame files")
    p.add_argument("-o", "--out", required=True, help="output directory")
    p.add_argument(
        "--hold-out",
        action="append",
        default=[],
        help="model held out for validation (shell pattern, repeatable, e.g. "
        "'*-Cs-*'); default: a fifth of the models, chosen by their name's hash",
    )
    p.add_argument(
        "--test",
        action="append",
        default=[],
        help="model left out of training and validation (shell pattern, "
        "repeatable): unbiased errors; --hold-out models choose the checkpoint",
    )
    p.add_argument(
        "--protocol",
        default=None,
        help="DFT protocol to train on when the sources hold several (the error "
        "lists them)",
    )
    p.add_argument(
        "--forces-from",
        action="append",
        default=[],
        help="another protocol whose frames train forces only, without their "
        "energies (repeatable; e.g. the relaxation steps of a staged GPAW "
        "relaxation beside its final single points)",
    )
    p.add_argument(
        "--base-model",
        default=defaults.base_model,
        help=f"pretrained model (default {defaults.base_model})",
    )
    p.add_argument(
        "--epochs", type=int, default=defaults.epochs, help="default %(default)s"
    )
    p.add_argument(
        "--lr", type=float, default=defaults.learning_rate, help="default %(default)s"
    )
    p.add_argument(
        "--batch-size",
        type=int,
        default=defaults.batch_size,
        help="default %(default)s",
    )
    p.add_argument(
        "--seed", type=int, default=defaults.seed, help="default %(default)s"
    )
    p.add_argument("--threads", type=int, default=None, help="torch threads")


def _finetune(args) -> int:
    from .engines.finetune import FinetuneSettings, finetune

    settings = FinetuneSettings(
        base_model=args.base_model,
        epochs=args.epochs,
        learning_rate=args.lr,
        batch_size=args.batch_size,
        seed=args.seed,
    )
    meta = finetune(
        args.sources,
        args.out,
        settings,
        hold_out=args.hold_out,
        protocol=args.protocol,
        threads=args.threads,
        test=args.test,
        forces_from=args.forces_from,
    )
    after = meta["errors"]["finetuned"]["validation"]
    before = meta["errors"]["pretrained"]["validation"]
    nan = float("nan")
    print(
        f"{args.out}/finetune.json: checkpoint {meta['checkpoint_sha256']}, training "
        f"data {meta['training_data_hash']}, {meta['n_frames']['train']} training / "
        f"{meta['n_frames']['validation']} validation frames, {meta['cpu_s']:.0f} s "
        "CPU\n  held out: "
        + ", ".join(meta["held_out_models"])
        + f"\n  validation force MAE {before['force_mae_eV_A']:.3f} -> "
        f"{after['force_mae_eV_A']:.3f} eV/A, energy MAE "
        f"{before.get('energy_mae_meV_per_atom', nan):.1f} -> "
        f"{after.get('energy_mae_meV_per_atom', nan):.1f} meV/atom"
    )
    return 0


def _preset_gap(args) -> int:
    from .analysis.presets import gap_summary, preset_gap, write_preset_gap

    root = Path(args.spec)
    root = root.parent if root.is_file() else root
    if not (root / "results.db").exists():
        raise ValueError(f"{root}: no results.db (not a campaign directory?)")
    rows = preset_gap(root)
    if not rows:
        raise ValueError(
            f"{root}: no finished GPAW model whose last relaxation step "
            "(tasks/*/gpaw-relax.traj) is its stored geometry, with references alike"
        )
    write_preset_gap(rows, args.out, f"{root}: relaxation vs final preset")
    gap = gap_summary(rows)
    print(
        f"{len(rows)} models: E_f at the relaxation preset differs by "
        f"{gap['mean_abs_meV']:.1f} meV per metal atom on average (largest "
        f"{abs(gap['largest_meV']):.1f}); wrote {args.out}"
    )
    return 0


def main(argv=None) -> int:
    """Entry point of the ``alkali-layers`` console script."""
    warnings.filterwarnings("ignore")
    init_mpi()
    args = build_parser().parse_args(argv)
    try:
        if args.verb == "build":
            return _build(args)
        if args.verb == "run":
            return _run(args)
        if args.verb == "converge":
            return _converge(args)
        if args.verb == "validate":
            return _validate(args)
        if args.verb == "diagnose":
            return _diagnose(args)
        if args.verb == "compare-engines":
            return _compare_engines(args)
        if args.verb == "compare":
            return _compare(args)
        if args.verb == "charges":
            return _charges(args)
        if args.verb == "fill":
            return _fill(args)
        if args.verb == "import-validation":
            from .campaigns.validation_import import import_and_report as import_v

            return import_v(
                [c.root for s in args.spec for c in _campaigns(s)], args.source
            )
        if args.verb == "import-fillings":
            from .campaigns.fill_import import import_and_report

            return import_and_report(args.spec, args.source)
        if args.verb == "finetune":
            return _finetune(args)
        if args.verb == "preset-gap":
            return _preset_gap(args)
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
