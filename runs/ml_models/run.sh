#!/usr/bin/env bash
# Every SevenNet model that ships in the wheel, with D3(BJ) and D4, on the DFT-sized
# bilayer cells of runs/bilayer_graphene_dft/pbe_d3bj (each campaign resumes), then all of
# them ranked against the GPAW campaign: table.md, table.csv, formation_mae.png.
set -euo pipefail
cd "$(dirname "$0")/../.."
for spec in runs/ml_models/*/campaign.toml; do
    .venv/bin/alkali-layers run "$(dirname "$spec")" --workers 1
done
.venv/bin/alkali-layers compare-engines runs/bilayer_graphene_dft/pbe_d3bj \
    runs/bilayer_graphene_dft_ml runs/ml_models/*/ --out runs/ml_models
