#!/usr/bin/env bash
# The layer rule: data flows one way,
#   lib -> config -> capture -> event -> state -> drops | rules -> outputs -> web -> app
# A file in src/<layer>/ may include headers of its own folder or of a folder
# to its left; drops and rules are siblings and may not include each other.
# Includes are written "layer/name.h"; a bare "name.h" must be in include/ or
# be generated into the build folder (the BPF skeleton).
# Usage: check_layers.sh [SRC_DIR]   (exit 1 and one line per violation)
set -euo pipefail
src=${1:-src}
root=$(cd "$(dirname "$0")/.." && pwd)

declare -A rank=([lib]=0 [config]=1 [capture]=2 [event]=3 [state]=4 [drops]=5 [rules]=5
	[outputs]=6 [web]=7 [app]=8)
generated=(saker.skel.h vmlinux.h)
bad=0

for dir in "$src"/*/; do
	layer=$(basename "$dir")
	if [[ -z ${rank[$layer]+x} ]]; then
		echo "$dir: not a known layer (${!rank[*]})"
		bad=1
		continue
	fi
	for f in "$dir"*.c "$dir"*.h; do
		[[ -e $f ]] || continue
		while IFS=: read -r line inc; do
			inc=${inc#*\"}
			inc=${inc%%\"*}
			if [[ $inc == */* ]]; then
				to=${inc%%/*}
				if [[ -z ${rank[$to]+x} ]]; then
					echo "$f:$line: includes \"$inc\" from unknown folder '$to'"
					bad=1
				elif [[ $to != "$layer" ]] && ((rank[$to] >= rank[$layer])); then
					echo "$f:$line: layer '$layer' includes \"$inc\" of layer '$to' (data flows lib -> ... -> app)"
					bad=1
				elif [[ ! -e $src/$inc ]]; then
					echo "$f:$line: includes \"$inc\", which does not exist"
					bad=1
				fi
			elif [[ ! -e $root/include/$inc ]] && [[ ! " ${generated[*]} " == *" $inc "* ]]; then
				echo "$f:$line: bare include \"$inc\": write it as \"<layer>/$inc\""
				bad=1
			fi
		done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$f" || true)
	done
done
exit $bad
