#!/usr/bin/env bash
# Issue 2, acceptance 1: the imported MobileNet V2 classifier gives the top-1
# class and probability range ../shared/README.md lists for each shared photo.
# gd-test: needs-models
source "$(dirname "$0")/lib.sh"
model="$GD_TEST_MODELS/mobilenet_v2_1.0_224_quant.h5"

check() {
  local img=$1 index=$2 label=$3 lo=$4 hi=$5
  "$GIGADREAM" classify "$model" "$GIGADREAM_IMAGE_DIR/$img" --top 5 >top.txt ||
    fail "classify $img failed"
  [ "$(wc -l <top.txt)" -eq 5 ] || fail "classify $img --top 5 printed $(wc -l <top.txt) lines"
  read -r rank i p name <top.txt
  echo "$img: $rank $i $p $name"
  [ "$rank" = 1 ] || fail "$img: first line is rank $rank"
  [ "$i" = "$index" ] || fail "$img: top-1 class $i ($name), expected $index ($label)"
  [ "$name" = "$label" ] || fail "$img: label '$name', expected '$label'"
  in_range "$p" "$lo" "$hi" || fail "$img: probability $p outside [$lo, $hi]"
}
check cat.png 286 "Egyptian cat" 0.78 0.82
check grace_hopper.png 653 "military uniform" 0.91 0.93
check parrot.jpg 89 "macaw" 0.998 0.999

# Probabilities are sorted and sum to at most 1.
"$GIGADREAM" classify "$model" "$GIGADREAM_IMAGE_DIR/cat.png" --top 1001 >all.txt
awk '{ s += $3; if (NR > 1 && $3 > prev + 1e-9) bad = 1; prev = $3 }
     END { if (bad || s < 0.99 || s > 1.01) exit 1 }' all.txt || fail "probabilities unsorted or not summing to 1"

# A model without a classifier is refused with a clear message.
expect_fail 1 "has no classifier" "$GIGADREAM" classify \
  "$GD_TEST_MODELS/mobilenet_v1_1.0_224_quant_embedding_extractor.h5" "$GIGADREAM_IMAGE_DIR/cat.png"
