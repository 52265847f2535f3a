#!/usr/bin/env bash
# Makes models/<name>.h5 for every model of models/catalog.ini (or the NAMEs
# given) that is missing or older than its source files:
#   1. takes the source .tflite (and labels) from the local mirror when there,
#      else downloads it from the catalog url into a cache folder;
#   2. checks its size and SHA-256 against the catalog (a mismatch is fatal,
#      and a downloaded file that fails is deleted so a rerun fetches it again);
#   3. runs `gigadream import SRC models/<name>.h5 --force [--labels LABELS]`.
# Usage: scripts/fetch-models.sh [--force] [NAME...]   (--force: import even if up to date)
# Environment:
#   GIGADREAM_MODEL_MIRROR  folder with the .tflite files (default: ../shared/models
#                           next to the repository)
#   GIGADREAM_MODEL_CACHE   download folder (default: ${XDG_CACHE_HOME:-~/.cache}/gigadream/models)
#   GIGADREAM               the gigadream binary (default: build/gigadream)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
catalog="$root/models/catalog.ini"
mirror=${GIGADREAM_MODEL_MIRROR:-$root/../shared/models}
cache=${GIGADREAM_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gigadream/models}
gigadream=${GIGADREAM:-$root/build/gigadream}

die() {
  echo "fetch-models: $*" >&2
  exit 1
}

force=0
names=()
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    -*) die "unknown option '$a' (try --help)" ;;
    *) names+=("$a") ;;
  esac
done

[ -f "$catalog" ] || die "no catalog at $catalog"

# The section names of the catalog, one per line.
sections() {
  tr -d '\r' < "$catalog" | awk '/^\[[^]]+\][ \t]*$/ { sub(/^\[/, ""); sub(/\][ \t]*$/, ""); print }'
}

# The value of KEY in SECTION ("" when absent).
get() {
  tr -d '\r' < "$catalog" | awk -v sec="$1" -v key="$2" '
    /^[ \t]*[;#]/ { next }
    /^\[[^]]+\][ \t]*$/ { cur = $0; sub(/^\[/, "", cur); sub(/\][ \t]*$/, "", cur); next }
    cur == sec {
      i = index($0, "=")
      if (i == 0) next
      k = substr($0, 1, i - 1); v = substr($0, i + 1)
      gsub(/^[ \t]+|[ \t]+$/, "", k); gsub(/^[ \t]+|[ \t]+$/, "", v)
      if (k == key) { print v; exit }
    }'
}

sha256_of() {
  if command -v sha256sum > /dev/null; then
    sha256sum "$1" | cut -d' ' -f1
  elif command -v shasum > /dev/null; then
    shasum -a 256 "$1" | cut -d' ' -f1
  else
    die "neither sha256sum nor shasum is installed"
  fi
}

download() { # URL DEST
  local url=$1 dest=$2 part="$2.part"
  [ -n "$url" ] || die "$(basename "$dest") is not in $mirror and the catalog gives no url"
  mkdir -p "$(dirname "$dest")"
  echo "fetch-models: downloading $url"
  if command -v curl > /dev/null; then
    curl -fsSL --retry 3 --connect-timeout 30 -o "$part" "$url" || { rm -f "$part"; die "cannot download $url"; }
  elif command -v wget > /dev/null; then
    wget -q --tries=3 -O "$part" "$url" || { rm -f "$part"; die "cannot download $url"; }
  else
    die "neither curl nor wget is installed: put $(basename "$dest") in $mirror by hand"
  fi
  mv "$part" "$dest"
}

# Sets $found to a checked local copy of FILE (mirror first, else the cache,
# downloading it there from URL).  SHA and SIZE may be empty (not checked).
fetch() { # FILE URL SHA SIZE
  local file=$1 url=$2 sha=$3 size=$4 from=mirror
  found="$mirror/$file"
  if [ ! -f "$found" ]; then
    from=cache
    found="$cache/$file"
    [ -f "$found" ] || download "$url" "$found"
  fi
  local got_size
  got_size=$(wc -c < "$found" | tr -d ' ')
  if [ -n "$size" ] && [ "$got_size" != "$size" ]; then
    [ "$from" = cache ] && rm -f "$found"
    die "$found: $got_size bytes, the catalog says $size (damaged or a different file)"
  fi
  if [ -n "$sha" ]; then
    local got
    got=$(sha256_of "$found")
    if [ "$got" != "$sha" ]; then
      [ "$from" = cache ] && rm -f "$found"
      die "$found: SHA-256 MISMATCH: got $got, the catalog says $sha (refusing to import it)"
    fi
  fi
}

mapfile -t known < <(sections)
[ ${#known[@]} -gt 0 ] || die "no models in $catalog"
if [ ${#names[@]} -eq 0 ]; then
  names=("${known[@]}")
else
  for n in "${names[@]}"; do
    printf '%s\n' "${known[@]}" | grep -qxF -- "$n" || die "no model '$n' in $catalog (known: ${known[*]})"
  done
fi

mkdir -p "$root/models"
for name in "${names[@]}"; do
  file=$(get "$name" file)
  file=${file:-$name.tflite}
  out="$root/models/$name.h5"

  fetch "$file" "$(get "$name" url)" "$(get "$name" sha256)" "$(get "$name" size)"
  src=$found
  labels=$(get "$name" labels)
  labels_src=""
  if [ -n "$labels" ]; then
    fetch "$labels" "$(get "$name" labels_url)" "$(get "$name" labels_sha256)" ""
    labels_src=$found
  fi

  if [ "$force" -eq 0 ] && [ -f "$out" ] && [ "$out" -nt "$src" ] &&
     { [ -z "$labels_src" ] || [ "$out" -nt "$labels_src" ]; }; then
    echo "fetch-models: models/$name.h5 is up to date"
    continue
  fi
  [ -x "$gigadream" ] || die "no gigadream binary at $gigadream: build it first (cmake -S . -B build && cmake --build build) or set GIGADREAM"
  echo "fetch-models: importing $src -> models/$name.h5"
  "$gigadream" import "$src" "$out" --force ${labels_src:+--labels "$labels_src"} ||
    die "importing $src failed (see the message above)"
done
