#!/usr/bin/env bash
# Sets up a fresh machine (Debian 12, root, no GPU works) to run the project:
#   1. npm dependencies (npm ci);
#   2. a WebGPU adapter for Node: if Dawn finds none, install Mesa's lavapipe Vulkan driver (a CPU
#      implementation) from bookworm-backports — Debian 12's own Mesa 22 is too old for Dawn;
#   3. Chromium from Debian, for the browser page's test in `npm test` (skip with --no-browser);
#   4. PyTorch from Debian (python3-torch, with OpenBLAS), for the PyTorch twin (interop/torch/) and its
#      parity tests in `npm test` (skip with --no-torch);
#   5. the esbuild bundles in dist/.
# Safe to run again: each step is skipped when already done.
set -euo pipefail
cd "$(dirname "$0")/.."
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-/tmp}"
want_browser=1
want_torch=1
for a in "$@"; do
  case "$a" in
    --no-browser) want_browser=0 ;;
    --no-torch) want_torch=0 ;;
    *) echo "setup.sh: unknown option $a (known: --no-browser, --no-torch)" >&2; exit 2 ;;
  esac
done

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
apt_updated=0
apt_update() { if [ $apt_updated = 0 ]; then as_root apt-get update -qq; apt_updated=1; fi; }

echo "== npm dependencies"
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  # npm ci checks that the lock file lists every platform variant of rollup's optional native
  # packages (npm/cli#4828); a registry mirror that serves only some platforms makes that lock
  # impossible to write, and npm ci refuses it. npm install then installs the same locked versions.
  npm ci --no-audit --no-fund || npm install --no-audit --no-fund
fi

echo "== WebGPU adapter"
if ! node scripts/probe-adapter.mjs; then
  if ! command -v apt-get >/dev/null; then
    echo "No WebGPU adapter, and this is not a Debian-like system: install a Vulkan driver (e.g. Mesa >= 23 lavapipe) yourself." >&2
    exit 1
  fi
  . /etc/os-release
  if [ "${VERSION_CODENAME:-}" = bookworm ]; then
    if ! grep -rqs "bookworm-backports" /etc/apt/sources.list /etc/apt/sources.list.d/; then
      echo "adding the bookworm-backports suite to apt's sources (Mesa 25 lives there)"
      printf 'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm-backports\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' |
        as_root tee /etc/apt/sources.list.d/bookworm-backports.sources >/dev/null
    fi
    apt_update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq -t bookworm-backports mesa-vulkan-drivers
  else
    apt_update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq mesa-vulkan-drivers
  fi
  node scripts/probe-adapter.mjs || {
    echo "Still no WebGPU adapter after installing mesa-vulkan-drivers. Check 'vulkaninfo --summary' (package vulkan-tools)." >&2
    exit 1
  }
fi

if [ $want_browser = 1 ]; then
  echo "== Chromium (for the browser page's test)"
  if ! command -v chromium >/dev/null; then
    apt_update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
  fi
fi

if [ $want_torch = 1 ]; then
  echo "== PyTorch (the twin in interop/torch/ and its parity tests)"
  # Debian's own build, run by Debian's /usr/bin/python3; without OpenBLAS it falls back to a BLAS ~20x slower.
  if ! /usr/bin/python3 -c 'import torch, PIL' 2>/dev/null || ! dpkg -s libopenblas0-pthread >/dev/null 2>&1; then
    apt_update
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-torch libopenblas0-pthread python3-pil
  fi
fi

echo "== build"
npm run -s build
