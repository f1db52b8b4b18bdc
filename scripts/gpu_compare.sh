#!/usr/bin/env bash
# Train the default model (CompactNet) and KochNet on one GPU for the same time budget, then
# evaluate both with the same code. Writes OUT_DIR/{compact,koch}/ (runs) and OUT_DIR/report.json.
#
#   scripts/gpu_compare.sh OUT_DIR MINUTES_EACH        e.g. scripts/gpu_compare.sh runs/gpu 3
#
# Needs the data prepared (scripts/prepare_data.py); PYTHON and WORKERS override the defaults.
set -euo pipefail
out=${1:-runs/gpu}
minutes=${2:-3}
python=${PYTHON:-python3}
workers=${WORKERS:-12}
mkdir -p "$out"

common=(--steps 1000000 --max-minutes "$minutes" --workers "$workers" --eval-every 1000 --checkpoint-every 1000 --log-every 100
        --no-final-eval)  # both are evaluated below, by the same commands
$python scripts/train.py --architecture compact --batch-size 256 --lr 2e-3 --out-dir "$out/compact" "${common[@]}"
$python scripts/train.py --architecture koch --batch-size 128 --lr 1e-4 --out-dir "$out/koch" "${common[@]}"

device=$($python -c "import torch; print('cuda' if torch.cuda.is_available() else 'cpu')")
for arch in compact koch; do
  for mode in lake-runs oneshot verification mnist-transfer; do
    $python scripts/evaluate.py "$mode" --model "$out/$arch/best" --device "$device" --json > "$out/$arch/$mode.json"
  done
done
$python - "$out" <<'PY'
import json, sys
from pathlib import Path
out = Path(sys.argv[1])
report = {}
for arch in ("compact", "koch"):
    run = out / arch
    report[arch] = {"summary": json.loads((run / "summary.json").read_text())}
    for mode in ("lake-runs", "oneshot", "verification", "mnist-transfer"):
        report[arch][mode] = json.loads((run / f"{mode}.json").read_text())
(out / "report.json").write_text(json.dumps(report, indent=2))
for arch, r in report.items():
    print(f"{arch:8s} steps {r['summary']['steps']:6d}  lake-runs {100 * r['lake-runs']['accuracy']:.1f}%  "
          f"koch-protocol {100 * r['oneshot']['accuracy']:.1f}%  verification AUC {r['verification']['roc_auc']:.3f}  "
          f"mnist {100 * r['mnist-transfer']['accuracy']:.1f}%")
PY
