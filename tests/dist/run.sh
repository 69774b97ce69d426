#!/usr/bin/env bash
# The artifacts of `make dist`, installed and used as a user would: each in a scratch directory,
# from the files in dist/ alone, with cargo and rustc off PATH (nothing here can build Rust, so
# a test passes only if the artifact works as shipped). The sdist is the exception: building it
# needs cargo, so it is built last, with PATH restored.
#
#   tests/dist/run.sh DIST VERSION HOST TOOLS_VENV   (the venv with maturin and auditwheel)
set -euo pipefail
# Nodes read every flag also from a CLUSTRON_* variable (--mdns from CLUSTRON_MDNS...): start
# them with none from the caller's shell, so a test runs the same wherever (no multicast).
while read -r name; do unset "$name"; done < <(compgen -e | grep '^CLUSTRON_' || true)
dist=$(realpath "$1"); version=$2; host=$3; tools=$(realpath "$4"); auditwheel=$tools/bin/auditwheel
repo=$(cd "$(dirname "$0")/../.." && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/clustron-dist.XXXXXX")
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
full_path=$PATH
# PATH without any directory that holds cargo or rustc.
clean_path=$(printf '%s' "$PATH" | tr ':' '\n' | while read -r dir; do
  [ -x "$dir/cargo" ] || [ -x "$dir/rustc" ] || printf '%s:' "$dir"
done)
export PATH=${clean_path%:}
export CARGO_HOME=$work/no-cargo RUSTUP_HOME=$work/no-rustup
! command -v cargo >/dev/null && ! command -v rustc >/dev/null || { echo "cargo or rustc is still on PATH"; exit 1; }
step() { echo "== dist: $*"; }
fail() { echo "dist test failed: $*"; exit 1; }
# grep -q, but reading all of its input: with pipefail, grep -q stopping early would fail the
# command that writes into the pipe (SIGPIPE).
matches() { grep -c "$@" >/dev/null; }

step "checksums"
(cd "$dist" && sha256sum --quiet -c SHA256SUMS)

# ---- the binary tarball ----
step "binary tarball"
mkdir -p "$work/usr-local"
tar -xzf "$dist/clustron-$version-$host.tar.gz" --strip-components=1 -C "$work/usr-local"
bin=$work/usr-local/bin/clustron
[ "$("$bin" --version)" = "clustron $version" ] || fail "clustron --version: $("$bin" --version)"
readelf -S "$bin" | matches '\.debug_info' && fail "the binary carries debug information"
readelf -S "$bin" | matches '\.symtab' && fail "the binary is not stripped"
readelf -S "$bin" | matches '\.gnu_debuglink' || fail "the binary has no .gnu_debuglink"
tar -tzf "$dist/clustron-$version-$host-debug.tar.gz" | matches 'clustron.debug$' || fail "no clustron.debug"
for page in clustron clustron-node clustron-put clustron-store-create; do
  gzip -dc "$work/usr-local/share/man/man1/$page.1.gz" | matches '^\.TH' || fail "man page $page"
done
bash -n "$work/usr-local/share/bash-completion/completions/clustron" || fail "the bash completion does not parse"
python3 -c 'import json, sys; json.load(open(sys.argv[1]))' "$work/usr-local/share/clustron/clustron.json" || fail "the dashboard"
[ -s "$work/usr-local/share/clustron/alerts.yml" ] || fail "no alert rules"
grep -q 'complete -c clustron' "$work/usr-local/share/fish/vendor_completions.d/clustron.fish" || fail "fish completion"
grep -q '#compdef clustron' "$work/usr-local/share/zsh/site-functions/_clustron" || fail "zsh completion"
# The unit, with ExecStart pointing at the unpacked binary (verify checks that it exists).
mkdir -p "$work/units"
sed "s|/usr/local/bin/clustron|$bin|" "$work/usr-local/lib/systemd/system/clustron.service" > "$work/units/clustron.service"
verify=$(systemd-analyze verify --man=no "$work/units/clustron.service" 2>&1 | grep -v -e 'Failed to connect' -e '^$' || true)
[ -z "$verify" ] || fail "systemd-analyze verify: $verify"
# A node configured by the example environment file (its listen address moved to a free port),
# used by the same binary as a client.
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
(
  set -a
  # shellcheck disable=SC1091
  . "$work/usr-local/share/clustron/clustron.env"
  set +a
  CLUSTRON_LISTEN=127.0.0.1:$port CLUSTRON_METRICS=127.0.0.1:0 CLUSTRON_DATA_DIR=$work/node-data exec "$bin" node
) > "$work/node.out" 2> "$work/node.log" &
pids+=($!)
for _ in $(seq 600); do grep -q '^ready ' "$work/node.out" && break; sleep 0.1; done
grep -q '^ready ' "$work/node.out" || { cat "$work/node.log"; fail "the node did not start"; }
target=clustron://127.0.0.1:$port/default
"$bin" put greeting hello --target "$target" >/dev/null
[ "$("$bin" get greeting --target "$target")" = "hello" ] || fail "get after put"
grep -q $'\e' "$work/node.log" && fail "the node's log has escape sequences"
metrics=$(sed -n 's/^metrics //p' "$work/node.out")
python3 - "$metrics" <<'PY' || fail "the node did not become ready (/readyz)"
import sys, time, urllib.error, urllib.request
for _ in range(100):
    try:
        if urllib.request.urlopen(f"http://{sys.argv[1]}/readyz", timeout=5).read() == b"ready\n":
            sys.exit(0)
    except urllib.error.HTTPError:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
kill "${pids[0]}"; wait "${pids[0]}" 2>/dev/null || true

# ---- the C tarball ----
step "C tarball"
mkdir -p "$work/c"
tar -xzf "$dist/clustron-c-$version-$host.tar.gz" --strip-components=1 -C "$work/c"
so=$work/c/lib/libclustron.so.$version
readelf -S "$so" | matches '\.debug_info' && fail "libclustron.so carries debug information"
readelf -S "$so" | matches '\.gnu_debuglink' || fail "libclustron.so has no .gnu_debuglink"
tar -tzf "$dist/clustron-c-$version-$host-debug.tar.gz" | matches "libclustron.so.$version.debug$" || fail "no libclustron debug file"
grep -q "#define CLUSTRON_VERSION_STRING \"$version\"" "$work/c/include/clustron.h" || fail "clustron.h version macros"
"$repo/tests/c/installed.sh" "$work/c" lib "$work/c-build"

# ---- the Python wheel ----
step "Python wheel"
wheel=$(ls "$dist"/clustron-"$version"-cp310-abi3-*manylinux2014_x86_64*.whl)
"$auditwheel" show "$wheel" | tr '\n' ' ' | matches 'manylinux_2_17_x86_64' || fail "auditwheel: $("$auditwheel" show "$wheel")"
python3 -m zipfile -l "$wheel" | matches 'dist-info/licenses/LICENSE-MIT' || fail "the wheel carries no LICENSE-MIT"
python3 -m zipfile -l "$wheel" | matches 'dist-info/licenses/LICENSE-APACHE' || fail "the wheel carries no LICENSE-APACHE"
python3 -m venv "$work/venv"
"$work/venv/bin/pip" install -q --no-index --no-deps "$wheel"
cp "$repo/examples/python/quickstart.py" "$work/quickstart.py"
(cd "$work" && "$work/venv/bin/python" quickstart.py >/dev/null)
[ "$("$work/venv/bin/python" -c 'import clustron; print(clustron.__version__)')" = "$version" ] || fail "clustron.__version__"
"$work/venv/bin/python" -c 'import importlib.metadata as m; d = m.metadata("clustron"); assert d["License-Expression"] == "MIT OR Apache-2.0", d["License-Expression"]; assert "Repository" in str(d.get_all("Project-URL")); assert len(d["Description"] or "") > 200'

# ---- the npm packages ----
step "npm packages"
mkdir -p "$work/app"
cd "$work/app"
npm init -y >/dev/null
npm install --no-audit --no-fund --loglevel=error "$dist/clustron-linux-x64-gnu-$version.tgz" "$dist/clustron-$version.tgz" >/dev/null
[ ! -e node_modules/clustron/clustron.linux-x64-gnu.node ] || fail "the clustron package carries the addon itself"
[ -e node_modules/clustron-linux-x64-gnu/clustron.linux-x64-gnu.node ] || fail "the platform package has no addon"
node -e "
const clustron = require('clustron')
if (clustron.version !== '$version') throw new Error('version ' + clustron.version)
clustron.open('cjs').then(async (store) => {
  await store.put('k', 'v')
  if ((await store.getText('k')) !== 'v') throw new Error('get after put')
  store.close()
})" || fail "CommonJS"
cp "$repo/examples/node/quickstart.mjs" "$work/app/quickstart.mjs"
node quickstart.mjs >/dev/null || fail "ES module quickstart"
node --input-type=module -e "
import clustron, { open } from 'clustron'
import { createRequire } from 'node:module'
if (clustron.open !== open) throw new Error('the default export is not the CommonJS module')
if (createRequire(import.meta.url)('clustron').open !== open) throw new Error('import and require load two copies')
" || fail "ES module and CommonJS share one module"
cd "$work"

# ---- the sdist (needs cargo: PATH restored) ----
step "sdist builds a wheel"
export PATH=$full_path
unset CARGO_HOME RUSTUP_HOME
sdist=$dist/clustron-$version.tar.gz
for member in pyproject.toml Cargo.toml core/src/lib.rs LICENSE-MIT LICENSE-APACHE README.md; do
  tar -tzf "$sdist" | matches "^clustron-$version/\(bindings/python/\)\?$member$" || fail "the sdist has no $member"
done
# Built by pip as on a machine with no wheel for it (maturin from the tools venv, no network;
# the dependencies already compiled in CARGO_TARGET_DIR are reused when the caller shares it),
# then installed into a new venv and used. The sdist's files all carry one fixed mtime (2006,
# for reproducible archives), and cargo names a path crate's artifacts the same wherever it is
# unpacked: unpacked as they are, Clustron's own crates would look older than the artifacts of
# an earlier sdist build in a shared target directory, and those would be reused (a stale core
# without the newest functions). Unpacked here and touched, they are compiled anew.
mkdir -p "$work/sdist-src"
tar -xzf "$sdist" -C "$work/sdist-src"
find "$work/sdist-src" -type f -exec touch {} +
PATH=$tools/bin:$PATH "$tools/bin/pip" wheel -q --no-deps --no-build-isolation "$work/sdist-src/clustron-$version" \
  -w "$work/sdist-wheel" || fail "the sdist does not build"
python3 -m venv "$work/sdist-venv"
"$work/sdist-venv/bin/pip" install -q --no-index --no-deps "$work"/sdist-wheel/clustron-"$version"-*.whl
"$work/sdist-venv/bin/python" -c "
import clustron
with clustron.open('sdist') as store:
    store.put('k', 'v')
    assert store.get('k').text == 'v'
" || fail "the wheel built from the sdist"
echo "== dist: every artifact installed and ran"
