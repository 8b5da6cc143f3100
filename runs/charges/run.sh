#!/usr/bin/env bash
# Charge transfer (Bader + plane-averaged drho) of Li, Na, K x 1-3 layers in AA bilayer
# graphene and of stage-1 LiC6 and KC8, GPAW PBE + D3(BJ) single points on 2 MPI ranks
# ("fast" preset) at stored geometries:
#   runs/charges                 bilayers GPAW-relaxed (runs/bilayer_graphene_dft),
#                                GICs from runs/gic_ml (7net-0 + D3(BJ))
#   runs/charges/ml_geometries   the same bilayer cells relaxed by 7net-0 + D3(BJ)
#                                (runs/bilayer_graphene_dft_ml): the geometry effect
#   runs/charges/final_preset    LiC6 and KC8 at the "final" preset (settings effect)
# Rerunning resumes (finished models are skipped).
set -euo pipefail
cd "$(dirname "$0")/../.."
export GPAW_MPI_BACKEND=cgpaw OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
[ -f runs/gic_ml/results.db ] || .venv/bin/alkali-layers run runs/gic_ml
charges() { mpiexec -n 2 .venv/bin/alkali-layers charges "$@"; }
charges runs/gic_ml runs/bilayer_graphene_dft --out runs/charges --preset fast \
    --title "Charge transfer in AA bilayer graphene (GPAW-relaxed) and stage-1 GICs: GPAW PBE + D3(BJ), fast preset"
charges runs/gic_ml runs/bilayer_graphene_dft_ml --out runs/charges/ml_geometries --preset fast \
    --title "Charge transfer at 7net-0 + D3(BJ) geometries: GPAW PBE + D3(BJ), fast preset"
charges runs/gic_ml --out runs/charges/final_preset --preset final \
    --title "Stage-1 GICs at the final preset (settings sensitivity of runs/charges)"
