#!/usr/bin/env bash
# Charge transfer (Bader + plane-averaged drho) of Li, Na, K x 1-3 layers in AA bilayer
# graphene (runs/bilayer_graphene_dft_ml: the DFT-sized cells) and of stage-1 LiC6 and
# KC8 (runs/gic_ml), GPAW PBE + D3(BJ) single points on 2 MPI ranks at the stored
# (SevenNet 7net-0 + D3(BJ)) geometries.  LiC6 is also analysed at the "final" preset
# (runs/charges/final_preset) to measure the settings sensitivity.  Rerunning resumes.
set -euo pipefail
cd "$(dirname "$0")/../.."
export GPAW_MPI_BACKEND=cgpaw OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[ -f runs/gic_ml/results.db ] || .venv/bin/alkali-layers run runs/gic_ml
charges() { mpiexec -n 2 .venv/bin/alkali-layers charges "$@"; }
charges runs/gic_ml runs/bilayer_graphene_dft_ml --out runs/charges --preset fast \
    --title "Charge transfer in AA bilayer graphene and stage-1 GICs: GPAW PBE + D3(BJ), fast preset"
charges runs/gic_ml --out runs/charges/final_preset --preset final \
    --title "Stage-1 GICs at the final preset (settings sensitivity of runs/charges)"
