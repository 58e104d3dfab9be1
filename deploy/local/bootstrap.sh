#!/usr/bin/env bash
# Installs what crosstenant needs on Debian 12: the Debian packages to build, run and test it, and
# the node tools the tests use (buf), locally in tools/ (git-ignored). Idempotent: when everything
# is present it only checks, in a second or two.
#
#   deploy/local/bootstrap.sh               everything: build, unit, integration and deploy tests
#   deploy/local/bootstrap.sh --build-only  only the Debian packages to build and run the unit tests: no
#                                           Node.js, no npm download (the image's build stage uses this,
#                                           so a builder without npm access, or behind a proxy, works)
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)

build_only=false
case "${1:-}" in
  "") ;;
  --build-only) build_only=true ;;
  *) echo "bootstrap: unknown argument '$1' (the only option is --build-only)" >&2; exit 2 ;;
esac

# What builds the project and runs its unit tests (all --build-only installs: the image's build stage).
build_packages=(
  g++ cmake ninja-build ccache pkg-config git
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler libabsl-dev
  prometheus-cpp-dev libssl-dev libcurl4-openssl-dev libsqlite3-dev libpq-dev
  libyaml-cpp-dev nlohmann-json3-dev libcpp-httplib-dev libpugixml-dev libcli11-dev
  # .proto files compiled into the services: grpc.health.v1, and google.rpc status details
  grpc-proto golang-github-gogo-googleapis-dev
  libgtest-dev libgmock-dev googletest openssl ca-certificates
)
# What the integration, deploy and compat tests, the fuzzers and the lint checks add.
test_packages=(
  curl prometheus python3 yamllint postgresql python3-grpcio python3-yaml nodejs npm
  # fuzzing: libFuzzer, AddressSanitizer and UndefinedBehaviorSanitizer
  clang libclang-rt-14-dev
  # the C++ format check (tests/layering/check_format.py)
  clang-format
)

packages=("${build_packages[@]}")
"$build_only" || packages+=("${test_packages[@]}")

missing=()
for package in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
  [ "$status" = "install ok installed" ] || missing+=("$package")
done

if [ "${#missing[@]}" -gt 0 ]; then
  # Node.js may come from elsewhere than Debian (a newer build is often preinstalled): use it if so.
  if command -v node >/dev/null && command -v npm >/dev/null; then
    filtered=()
    for package in "${missing[@]}"; do
      case "$package" in nodejs|npm) ;; *) filtered+=("$package") ;; esac
    done
    missing=("${filtered[@]+"${filtered[@]}"}")
  fi
fi

if [ "${#missing[@]}" -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "bootstrap: these Debian packages are missing: ${missing[*]}" >&2
    echo "bootstrap: run this script as root (sudo $0), or install them with apt-get yourself." >&2
    exit 1
  fi
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >/dev/null
  apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
  echo "bootstrap: installed ${#missing[@]} package(s)"
fi

if "$build_only"; then
  echo "bootstrap: ready to build (--build-only: no Node.js tools)"
  exit 0
fi

buf="$root/tools/node_modules/.bin/buf"
if [ ! -x "$buf" ] || ! "$buf" --version >/dev/null 2>&1; then
  echo "bootstrap: installing @bufbuild/buf into tools/"
  mkdir -p "$root/tools"
  npm install --prefix "$root/tools" --no-fund --no-audit --loglevel=error @bufbuild/buf@1.75.0 >/dev/null
fi

# The offline schema check of the Kubernetes manifests (tests/deploy/package.json pins the versions), and
# Microsoft's client libraries for tests/compat (versions whose `engines` allow Node 18 as well as 20:
# @azure/identity 4.10 and later need Node 20, 4.14 Node 22).
node_modules=(kubernetes-models@4.5.1 @kubernetes-models/cert-manager@4.4.4 @kubernetes-models/prometheus-operator@4.4.4
              yaml@2.9.1 @azure/msal-node@3.8.4 @azure/identity@4.9.1)
for module in "${node_modules[@]}"; do
  name=${module%@*}
  version=${module##*@}
  installed=$(node -p "require('$root/tools/node_modules/$name/package.json').version" 2>/dev/null || true)
  if [ "$installed" != "$version" ]; then
    echo "bootstrap: installing ${node_modules[*]} into tools/"
    npm install --prefix "$root/tools" --no-fund --no-audit --loglevel=error "${node_modules[@]}" >/dev/null
    break
  fi
done

# kubectl (its kustomize renders the manifests in tests/deploy) is not in Debian 12 in a usable version.
command -v kubectl >/dev/null ||
  echo "bootstrap: note: kubectl is not installed; the deploy tests that render the Kubernetes manifests need it" \
       "(https://kubernetes.io/docs/tasks/tools/), or KUSTOMIZE=/path/to/kustomize" >&2

echo "bootstrap: ready (buf $("$buf" --version))"
