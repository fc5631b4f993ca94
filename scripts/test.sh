#!/usr/bin/env bash
# Install everything the test suite needs, then run all of it.
#   bash scripts/test.sh            # whole suite
#   bash scripts/test.sh -k kv      # extra arguments go to pytest
# System packages (as root, via apt): chromium (browser tests), iproute2 + ethtool (emulated
# cluster in network namespaces), gcc (the MPICH wheel's mpicc builds the MPI probe's C loop). Python packages go into .venv: the project with its [test]
# extra (pytest, hypothesis, mpi4py + the MPICH wheel) and the CPU build of torch for gloo.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
command -v ethtool >/dev/null 2>&1 || need+=(ethtool)
command -v cc >/dev/null 2>&1 || need+=(gcc libc6-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing system packages: ${need[*]}" >&2
  sudo=""
  [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

[ -x .venv/bin/python ] || python3 -m venv .venv
. .venv/bin/activate
# torch 2.13.0 is the CPU wheel this machine kind keeps on disk; a bare "torch" would pull a
# multi-GB CUDA build. The [torch] extra itself accepts any torch >= 2.1.
python -c "import torch" 2>/dev/null || pip install -q torch==2.13.0
pip install -q -e '.[test]'

# Everything the tests need was installed above, so a missing requirement (torch, mpiexec,
# chromium) is a failure here, never a silent skip: the suite's fixtures read CI for that.
export CI="${CI:-true}"

set +e
python -m pytest "$@"
rc=$?
set -e
if [ "$rc" -eq 5 ]; then
  echo "pytest collected no tests: failing on purpose" >&2
  exit 1
fi
exit "$rc"
