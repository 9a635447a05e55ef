#!/usr/bin/env bash
# Installs the system packages Shrink needs (Debian/Ubuntu), only those that are missing.
# espeak-ng synthesises the speech the real-model fixtures are made from (Tests/Fixtures/real-models).
# Swift itself is expected on PATH (the toolchain is not an apt package).
set -euo pipefail
# The device checks (ShrinkDeviceTests, `shrink device --verify`) compile the exported C with gcc,
# cross-compile it for Cortex-M4 (newlib with semihosting) and run it on QEMU's mps2-an386.
# The team-cache tests (RemoteCacheTests) serve a WebDAV cache from nginx on loopback.
packages=(libopenblas-dev liblapacke-dev espeak-ng gcc gcc-arm-none-eabi libnewlib-arm-none-eabi qemu-system-arm nginx)
# The cluster tests (SlurmTests) run a real single-node Slurm started by scripts/dev-slurm.sh.
packages+=(slurmctld slurmd slurm-client munge)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo_cmd=""
  [ "$(id -u)" -ne 0 ] && sudo_cmd="sudo"
  $sudo_cmd apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
command -v swift >/dev/null || { echo "error: swift is not on PATH; install Swift 6 first" >&2; exit 2; }
