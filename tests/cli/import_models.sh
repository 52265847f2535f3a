#!/usr/bin/env bash
# Test fixture: imports the shared TFLite models into $GD_TEST_MODELS once
# (again when the binary or the source is newer).
set -euo pipefail
mkdir -p "$GD_TEST_MODELS"
import() {
  local m=$1 labels=${2:-}
  local src="$GIGADREAM_MODEL_MIRROR/$m.tflite" out="$GD_TEST_MODELS/$m.h5"
  if [ ! -s "$out" ] || [ "$src" -nt "$out" ] || [ "$GIGADREAM" -nt "$out" ]; then
    "$GIGADREAM" import "$src" "$out" --force ${labels:+--labels "$GIGADREAM_MODEL_MIRROR/$labels"}
  fi
}
import mobilenet_v1_1.0_224_quant_embedding_extractor
import mobilenet_v2_1.0_224_quant imagenet_labels.txt
import mobilenet_v2_1.0_224_inat_bird_quant inat_bird_labels.txt
