#!/usr/bin/env bash
# Makes models/<name>.h5 for every model of models/catalog.ini (or the NAMEs
# given) that is missing or older than its source files, and puts every photo
# of the catalog (sections with kind = image) into images/:
#   1. takes the source .tflite (and labels) from the local mirror when there,
#      else downloads it from the catalog url into a cache folder;
#   2. checks its size and SHA-256 against the catalog (a mismatch is fatal,
#      and a downloaded file that fails is deleted so a rerun fetches it again);
#   3. runs `gigadream import SRC models/<name>.h5 --force [--labels LABELS]`
#      (a photo is copied into images/ instead).
# What cannot be had (no mirror copy, no url, no network, a checksum mismatch)
# is reported as it happens and listed again at the end; the others are still
# made, and the script then exits 1.
# Usage: scripts/fetch-models.sh [--force] [--images | --models] [NAME...]
#   (--force: import even if up to date; --images, --models: only those)
# Environment:
#   GIGADREAM_MODEL_MIRROR  folder with the .tflite files (default: ../shared/models
#                           next to the repository)
#   GIGADREAM_MODEL_CACHE   download folder (default: ${XDG_CACHE_HOME:-~/.cache}/gigadream/models)
#   GIGADREAM_CATALOG       the catalog (default: models/catalog.ini)
#   GIGADREAM_IMAGE_MIRROR  folder with the photos (default: ../shared/images)
#   GIGADREAM_IMAGE_OUT     where the photos go (default: images/ in the repository)
#   GIGADREAM               the gigadream binary (default: build/gigadream, else
#                           the gigadream on PATH)
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
catalog=${GIGADREAM_CATALOG:-$root/models/catalog.ini}
mirror=${GIGADREAM_MODEL_MIRROR:-$root/../shared/models}
cache=${GIGADREAM_MODEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gigadream/models}
image_mirror=${GIGADREAM_IMAGE_MIRROR:-$root/../shared/images}
image_out=${GIGADREAM_IMAGE_OUT:-$root/images}
gigadream=${GIGADREAM:-$root/build/gigadream}
# Installed (share/gigadream/scripts), there is no build/: use the installed binary.
[ -n "${GIGADREAM:-}" ] || [ -x "$gigadream" ] || gigadream=$(command -v gigadream || echo "$gigadream")

die() {
  echo "fetch-models: $*" >&2
  exit 1
}

force=0
only=""
names=()
for a in "$@"; do
  case "$a" in
    --force) force=1 ;;
    --images) only=image ;;
    --models) only=model ;;
    -h|--help) sed -n '2,24p' "$0"; exit 0 ;;
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

# Every item that could not be had, with why; reported again at the end.
failed=()
miss() { # WHAT WHY
  echo "fetch-models: cannot get $1: $2" >&2
  failed+=("$1: $2")
  return 1
}

download() { # URL DEST MIRROR
  local url=$1 dest=$2 mirror_dir=$3 part="$2.part" name
  name=$(basename "$dest")
  [ -n "$url" ] || { miss "$name" "not in $mirror_dir and the catalog gives no url"; return 1; }
  mkdir -p "$(dirname "$dest")"
  echo "fetch-models: downloading $url"
  if command -v curl > /dev/null; then
    curl -fsSL --retry 3 --connect-timeout 30 -o "$part" "$url" ||
      { rm -f "$part"; miss "$name" "not in $mirror_dir, and downloading $url failed"; return 1; }
  elif command -v wget > /dev/null; then
    wget -q --tries=3 -O "$part" "$url" ||
      { rm -f "$part"; miss "$name" "not in $mirror_dir, and downloading $url failed"; return 1; }
  else
    miss "$name" "not in $mirror_dir, and neither curl nor wget is installed to download $url"
    return 1
  fi
  mv "$part" "$dest"
}

# Sets $found to a checked local copy of FILE (mirror first, else the cache,
# downloading it there from URL).  SHA and SIZE may be empty (not checked).
# Returns 1, having said why, when there is none.
fetch() { # FILE URL SHA SIZE MIRROR
  local file=$1 url=$2 sha=$3 size=$4 mirror_dir=$5 from=mirror
  found="$mirror_dir/$file"
  if [ ! -f "$found" ]; then
    from=cache
    found="$cache/$file"
    [ -f "$found" ] || download "$url" "$found" "$mirror_dir" || return 1
  fi
  local got_size
  got_size=$(wc -c < "$found" | tr -d ' ')
  if [ -n "$size" ] && [ "$got_size" != "$size" ]; then
    [ "$from" = cache ] && rm -f "$found"
    miss "$file" "$found: $got_size bytes, the catalog says $size (damaged or a different file)"
    return 1
  fi
  if [ -n "$sha" ]; then
    local got
    got=$(sha256_of "$found")
    if [ "$got" != "$sha" ]; then
      [ "$from" = cache ] && rm -f "$found"
      miss "$file" "$found: SHA-256 MISMATCH: got $got, the catalog says $sha (refusing to use it)"
      return 1
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
  kind=$(get "$name" kind)
  kind=${kind:-model}
  [ -z "$only" ] || [ "$kind" = "$only" ] || continue
  if [ "$kind" = image ]; then
    fetch "$name" "$(get "$name" url)" "$(get "$name" sha256)" "$(get "$name" size)" "$image_mirror" || continue
    mkdir -p "$image_out"
    if ! cmp -s "$found" "$image_out/$name"; then
      cp "$found" "$image_out/$name.part" && mv "$image_out/$name.part" "$image_out/$name" ||
        { miss "$name" "cannot copy it into $image_out"; continue; }
      echo "fetch-models: $name -> $image_out/$name"
    fi
    continue
  fi
  file=$(get "$name" file)
  file=${file:-$name.tflite}
  out="$root/models/$name.h5"

  fetch "$file" "$(get "$name" url)" "$(get "$name" sha256)" "$(get "$name" size)" "$mirror" || continue
  src=$found
  labels=$(get "$name" labels)
  labels_src=""
  if [ -n "$labels" ]; then
    fetch "$labels" "$(get "$name" labels_url)" "$(get "$name" labels_sha256)" "" "$mirror" || continue
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

if [ ${#failed[@]} -gt 0 ]; then
  echo "fetch-models: could not get ${#failed[@]} file(s) of $catalog:" >&2
  printf '  %s\n' "${failed[@]}" >&2
  echo "fetch-models: put them in $mirror (models) or $image_mirror (photos), or set" \
    "GIGADREAM_MODEL_MIRROR / GIGADREAM_IMAGE_MIRROR to a folder holding them" >&2
  exit 1
fi
