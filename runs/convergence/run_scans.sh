#!/usr/bin/env bash
# GPAW convergence scans behind the "final" and "fast" presets (2 MPI ranks).
# Each writes scan.csv, scan.md, scan.png and the GPAW logs into its directory.
# References (bcc metal, primitive host) are computed at k-point density >= 10.
# Finished points go to points.csv in each directory; rerunning resumes from them.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GPAW_MPI_BACKEND=cgpaw OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
run() { mpiexec -n 2 .venv/bin/alkali-layers converge "$@"; }
[ -f runs/convergence/bcc_Na/scan.csv ] || run bulk-metal --metal Na --out runs/convergence/bcc_Na \
    --cutoffs 300,400,500,600,700 --kpt-densities 4,6,8,10,12,14
[ -f runs/convergence/C6LiC6/scan.csv ] || run bilayer-graphene --metal Li --layers 1 --stacking AA --out runs/convergence/C6LiC6 \
    --cutoffs 300,400,500,600 --kpt-densities 2,3,4,5,6
run bilayer-graphene --metal Na --layers 3 --stacking AA \
    --out runs/convergence/Na3L_BLG_AA --cutoffs 400,500,600 --kpt-densities 2.5,4
