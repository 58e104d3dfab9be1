#!/usr/bin/env bash
# The container image, built and run: builds deploy/docker/Dockerfile with podman (daemonless, from
# Debian), reports its size, checks what it runs as, then runs the short demo migration with every
# program of the mesh (emulator, connector, orchestrator, two workers, migratectl) started from the image.
#
#   tests/deploy/image_test.sh            as ctest runs it (exit 77 = skipped, with the reason printed)
#
# No container registry is needed: when the `debian:bookworm` and `debian:bookworm-slim` bases are not in
# podman's store, a minimal Debian 12 made by debootstrap from the Debian mirror stands in for both
# (imported once, then reused). The build mounts the host's ccache, so a machine that has built the
# sources already builds the image in minutes.
#
# Environment: IMAGE (default localhost/crosstenant:test), IMAGE_WERROR (ON or OFF: warnings as errors in the
# build stage, default ON), CCACHE_DIR (default ~/.cache/ccache), KEEP_IMAGE=1 leaves the image in podman's store.
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
image=${IMAGE:-localhost/crosstenant:test}
skip() { echo "SKIPPED: $*"; exit 77; }

command -v podman >/dev/null || skip "podman is not installed (apt-get install podman runc debootstrap to run this test; the bootstrap leaves them out to keep CI within its time)"
command -v runc >/dev/null || skip "runc is not installed (apt-get install runc)"
# runc, and explicit rlimits: crun cannot set rlimits in some sandboxes.
podman_run=(podman run --rm --runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096)
work=$(mktemp -d "${TMPDIR:-/tmp}/crosstenant-image.XXXXXX")
cleanup() {
  rm -rf "$work"
  [ "${KEEP_IMAGE:-0}" = 1 ] || podman rmi -f "$image" >/dev/null 2>&1 || true
}
trap cleanup EXIT

# Can this machine run a container at all? (No user namespaces, no cgroups, or no overlay support are
# the usual reasons it cannot; podman's own words say which.)
base=docker.io/library/debian:bookworm
if ! podman image exists "$base"; then
  if ! podman pull -q "$base" >/dev/null 2>&1; then
    command -v debootstrap >/dev/null ||
      skip "no $base image, no registry to pull it from, and no debootstrap to make one (apt-get install debootstrap)"
    echo "image: $base is not available; making it with debootstrap (minbase, bookworm) from the Debian mirror"
    # Either file may be missing (Debian 12 ships deb822 sources only), so sed's status is not ours.
    mirror=$(sed -n 's/^URIs: *//p; s/^deb \(http[^ ]*\) bookworm .*/\1/p' /etc/apt/sources.list.d/*.sources \
               /etc/apt/sources.list 2>/dev/null | head -1 || true)
    debootstrap --variant=minbase bookworm "$work/rootfs" "${mirror:-http://deb.debian.org/debian}" \
      >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; skip "debootstrap failed (log above)"; }
    rm -rf "$work/rootfs/var/cache/apt/archives/"*.deb "$work/rootfs/var/lib/apt/lists/"*
    tar -C "$work/rootfs" -c . | podman import -q - "$base" >"$work/import.log" 2>&1 ||
      { cat "$work/import.log"; skip "podman cannot import the debootstrap base (above)"; }
    rm -rf "$work/rootfs"
  fi
fi
podman image exists docker.io/library/debian:bookworm-slim || podman tag "$base" docker.io/library/debian:bookworm-slim
if ! probe=$("${podman_run[@]}" "$base" true 2>&1); then
  skip "this machine cannot run containers: $probe"
fi

echo "image: building $image from deploy/docker/Dockerfile"
cache=${CCACHE_DIR:-$HOME/.cache/ccache}
mkdir -p "$cache"
started=$(date +%s)
# The build context is a clean copy of the committed sources (as a builder would check them out), not the
# work tree with its build trees.
git -C "$root" archive --format=tar HEAD | (mkdir -p "$work/context" && tar -C "$work/context" -x)
cp -r "$root/.git" "$work/context/.git"
podman build --runtime runc --ulimit nofile=4096:4096 --ulimit nproc=4096:4096 --pull=never \
  --build-arg WERROR="${IMAGE_WERROR:-ON}" --build-arg LANG="${LANG:-C.UTF-8}" -v "$cache:/ccache" -f "$work/context/deploy/docker/Dockerfile" -t "$image" "$work/context" \
  >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; echo "image: the build failed (above)"; exit 1; }
echo "image: built in $(($(date +%s) - started)) s"
size=$(podman image inspect --format '{{.Size}}' "$image")
echo "image: size $((size / 1000000)) MB ($size bytes)"

# Runs as the non-root user the manifests require, with every program present.
user=$(podman image inspect --format '{{.Config.User}}' "$image")
[ "$user" = "65532:65532" ] || { echo "image: runs as '$user', expected 65532:65532"; exit 1; }
for program in tenant-connector orchestrator worker tenant-emulator loadgen migratectl; do
  "${podman_run[@]}" --entrypoint "/usr/local/bin/$program" "$image" --help >/dev/null 2>"$work/version.log" ||
    { cat "$work/version.log"; echo "image: $program does not start in the image"; exit 1; }
done

# The short demo with the image's binaries: each program is a wrapper that runs it in a container on the
# host's network, with the sources (configs, certificates) read-only and the demo's run directory shared.
mkdir -p "$work/bin" "$work/tmp"
for program in tenant-emulator tenant-connector orchestrator worker migratectl; do
  cat >"$work/bin/$program" <<EOF
#!/usr/bin/env bash
exec ${podman_run[*]} --network host --user "$(id -u):$(id -g)" \\
  -v "$root:$root:ro" -v "$work/tmp:$work/tmp" -w "$work/tmp" -e TMPDIR="$work/tmp" \\
  -e MIGRATECTL_CONNECTOR -e MIGRATECTL_ORCHESTRATOR -e MIGRATECTL_TLS_CA -e MIGRATECTL_TLS_CERT \\
  -e MIGRATECTL_TLS_KEY -e MIGRATECTL_TLS_SERVER_NAME \\
  --entrypoint /usr/local/bin/$program "$image" "\$@"
EOF
  chmod +x "$work/bin/$program"
done
echo "image: the short demo migration, every program from the image"
started=$(date +%s)
if ! TMPDIR="$work/tmp" CROSSTENANT_BIN_DIR="$work/bin" bash "$root/deploy/local/demo.sh" --short --no-setup \
       >"$work/demo.log" 2>&1; then
  tail -40 "$work/demo.log"
  echo "image: the demo failed with the image's binaries (above)"
  exit 1
fi
grep -q 'demo finished in .* migration merger COMPLETED' "$work/demo.log" || { tail -40 "$work/demo.log"; echo "image: the demo never completed"; exit 1; }
echo "image: demo completed in $(($(date +%s) - started)) s"
tail -5 "$work/demo.log"
