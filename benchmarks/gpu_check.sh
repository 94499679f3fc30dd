#!/usr/bin/env bash
# The GPU check of issue 21, in under ten minutes on one GPU: the CUDA tests (each hazard of the
# accelerated steps, eager-versus-eager spread beside eager-versus-graph), then gpu_throughput
# at a reduced size. Run it where a GPU is lent (the device tool: `bash benchmarks/gpu_check.sh`,
# with OUT set to the folder whose files come back); record what it printed in benchmarks/README.md
# and flip `step_mode: auto` only for what passed. It needs torch with CUDA and the study's
# science dependencies (numpy, scipy, scikit-learn, pyarrow); not Ray or Optuna.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-python3}
OUT=${OUT:-/tmp/gpu_check}
mkdir -p "$OUT"
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
$PY -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())" \
  | tee "$OUT/device.txt"
timeout 330 $PY -m pytest -q -s -p no:cacheprovider -o addopts="" tests/study/gan/test_fused_cuda.py 2>&1 \
  | tee "$OUT/cuda_tests.txt"
tests=${PIPESTATUS[0]}
timeout 240 $PY benchmarks/gpu_throughput.py --members 4 --packed 2 --window 20,120 --inception-images 2000 2>&1 \
  | tee "$OUT/gpu_throughput.txt"
bench=${PIPESTATUS[0]}
# Issue 23: the metrics' CUDA paths equal the CPU's (float64 resizes, chunked distances).
timeout 60 $PY - <<'PYEOF' 2>&1 | tee "$OUT/metrics_cuda.txt"
import torch
from study.gan.metrics.density_coverage import density_coverage
from study.gan.metrics.pil_resample import resize_uint8
from study.gan.metrics.preprocess import resize
g = torch.Generator().manual_seed(0)
x = torch.randint(0, 256, (8, 3, 32, 32), generator=g).float()
clean = (resize(x.cuda(), 299, "clean").cpu() - resize(x, 299, "clean")).abs().max().item()
u8 = x.to(torch.uint8)
pil = (resize_uint8(u8.cuda(), 224, 224).cpu().int() - resize_uint8(u8, 224, 224).int()).abs().max().item()
real, fake = torch.randn(500, 64, generator=g), torch.randn(400, 64, generator=g)
dc = density_coverage(real, fake, device="cuda") == density_coverage(real, fake)
print(f"clean resize cuda-cpu max {clean:.2e}; pil uint8 resize max {pil}; density/coverage equal {dc}")
assert clean < 1e-3 and pil == 0 and dc
PYEOF
metrics=${PIPESTATUS[0]}
echo "cuda tests exit $tests; gpu_throughput exit $bench; metrics exit $metrics" | tee -a "$OUT/device.txt"
[ "$tests" = 0 ] && [ "$bench" = 0 ] && [ "$metrics" = 0 ]
