# Sourced by the shell tests: small_dataset DIR N_TRAIN N_OTHER copies the first pairs of the
# built-in dataset's train / val / test splits into DIR (generic layout).
small_dataset() {
  local src
  src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
  for split in train val test; do
    local n=$3
    [ "$split" = train ] && n=$2
    mkdir -p "$1/$split/images" "$1/$split/masks"
    for f in $(ls "$src/assets/data/default/$split/images" | head -n "$n"); do
      cp "$src/assets/data/default/$split/images/$f" "$1/$split/images/"
      cp "$src/assets/data/default/$split/masks/${f%.jpg}.png" "$1/$split/masks/"
    done
  done
}
