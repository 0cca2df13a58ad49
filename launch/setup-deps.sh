#!/usr/bin/env bash
# Installs the Debian packages Diverge builds against, if any are missing (needs root or sudo; idempotent).
# --reference: also Debian's PyTorch 1.13 (about 140 MB to download), which the Megatron shard checks import
# (launch/reference-venv.sh), tests/reference/dump.py makes the model dumps with and benchmarks compare against.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config
  nlohmann-json3-dev libcli11-dev doctest-dev
  libpcre2-dev libutf8proc-dev libxxhash-dev liblzma-dev libopenblas-openmp-dev
  libopenmpi-dev openmpi-bin
  python3 python3-numpy python3-venv xz-utils groff-base  # python3-venv: launch/reference-venv.sh
  clang libclang-rt-14-dev llvm  # launch/fuzz.sh: libFuzzer, the sanitizers, llvm-symbolizer for their traces
)
if [[ "${1:-}" == "--reference" ]]; then
  packages+=(python3-torch)
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "setup-deps: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
