#!/usr/bin/env bash
# The layer rule: data flows one way,
#   lib -> config -> capture -> event -> state -> drops | rules -> outputs -> web -> observe -> app
# A file in src/<layer>/ may include headers of its own folder or of a folder
# to its left; drops and rules are siblings and may not include each other.
# Includes of saker's own headers are written "layer/name.h": in quotes (an
# angle-bracket <app/app.h> is checked like a quoted one, and refused), and
# in their normal form (no "state/../app/app.h", no "./" or "../"). A bare
# "name.h" must be in include/ or be generated into the build folder (the BPF
# skeleton). bpf/ and include/ sit below every layer: they include only their
# own headers (bpf/, include/), generated ones and system headers, never src/.
# Usage: check_layers.sh [SRC_DIR]   (its parent holds bpf/ and include/;
# exit 1 and one line per violation)
set -euo pipefail
src=${1:-src}
root=$(cd "$(dirname "$src")" && pwd)
src=$root/$(basename "$src")

declare -A rank=([lib]=0 [config]=1 [capture]=2 [event]=3 [state]=4 [drops]=5 [rules]=5
	[outputs]=6 [web]=7 [observe]=8 [app]=9)
generated=(saker.skel.h saker_iter.skel.h vmlinux.h)
bad=0

# The normal form of a relative path ("a/./b/../c" -> "a/c") into $N (no
# subshell: it runs for every include); a leading ".." stays when the path
# leaves its base.
normal() {
	local IFS=/ part out=()
	for part in $1; do
		case $part in
		"" | .) ;;
		..) if ((${#out[@]})) && [[ ${out[-1]} != .. ]]; then unset 'out[-1]'; else out+=(..); fi ;;
		*) out+=("$part") ;;
		esac
	done
	N="${out[*]}"
}

# Every #include of file f as "line:form:path", form q (quotes) or a (angle).
includes() {
	grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*["<]' "$1" |
		sed -n 's/^\([0-9]*\):[^"<]*"\([^"]*\)".*/\1:q:\2/p;s/^\([0-9]*\):[^"<]*<\([^>]*\)>.*/\1:a:\2/p' || true
}

check_src() {
	local f=$1 layer=$2 line form inc norm to
	while IFS=: read -r line form inc; do
		[[ -n $inc ]] || continue
		normal "$inc"
		norm=$N
		to=${norm%%/*}
		if [[ $form == a ]]; then
			# <stdio.h>, <bpf/libbpf.h>: system headers; only saker's own are checked
			[[ $norm == */* && -n ${rank[$to]+x} && -e $src/$norm ]] || continue
			echo "$f:$line: <$inc> is saker's own header: write it as \"$norm\""
			bad=1
		elif [[ $norm != "$inc" ]]; then
			echo "$f:$line: \"$inc\": write it as \"$norm\""
			bad=1
		fi
		if [[ $norm == */* ]]; then
			if [[ -z ${rank[$to]+x} ]]; then
				echo "$f:$line: includes \"$inc\" from unknown folder '$to'"
				bad=1
			elif [[ $to != "$layer" ]] && ((rank[$to] >= rank[$layer])); then
				echo "$f:$line: layer '$layer' includes \"$norm\" of layer '$to' (data flows lib -> ... -> app)"
				bad=1
			elif [[ ! -e $src/$norm ]]; then
				echo "$f:$line: includes \"$inc\", which does not exist"
				bad=1
			fi
		elif [[ $form == q && ! -e $root/include/$norm ]] && [[ ! " ${generated[*]} " == *" $norm "* ]]; then
			echo "$f:$line: bare include \"$inc\": write it as \"<layer>/$norm\""
			bad=1
		fi
	done < <(includes "$f")
}

# bpf/ and include/: an include resolves beside the file, in include/ or is
# generated; anything naming a layer of src/ is refused.
check_below() {
	local f=$1 dir line form inc rel to
	dir=$(dirname "$f")
	while IFS=: read -r line form inc; do
		[[ -n $inc ]] || continue
		normal "${dir#"$root"/}/$inc"
		rel=$N
		normal "$inc"
		to=${N%%/*}
		if [[ $rel == src/* ]] || { [[ $inc == */* && -n ${rank[$to]+x} ]] &&
			[[ ! -e $dir/$inc && ! -e $root/include/$inc ]]; }; then
			echo "$f:$line: includes \"$inc\": bpf/ and include/ are below every layer of src/"
			bad=1
		elif [[ $form == q && ! -e $dir/$inc && ! -e $root/include/$inc ]] &&
			[[ ! " ${generated[*]} " == *" $inc "* ]]; then
			echo "$f:$line: includes \"$inc\", which is not beside it, in include/ or generated"
			bad=1
		fi
	done < <(includes "$f")
}

for dir in "$src"/*/; do
	layer=$(basename "$dir")
	if [[ -z ${rank[$layer]+x} ]]; then
		echo "$dir: not a known layer (${!rank[*]})"
		bad=1
		continue
	fi
	for f in "$dir"*.c "$dir"*.h; do
		[[ -e $f ]] || continue
		check_src "$f" "$layer"
	done
done
while IFS= read -r f; do
	check_below "$f"
done < <(find "$root/bpf" "$root/include" -type f \( -name '*.c' -o -name '*.h' -o -name '*.def' \) 2>/dev/null | sort)
exit $bad
