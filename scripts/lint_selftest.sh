#!/usr/bin/env bash
# Each structural gate of `make lint` fails on a violation planted in a
# temporary copy of the tree (and passes on the copy as it is), so a gate
# that silently stopped checking is caught. Usage: lint_selftest.sh JSCPD
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jscpd=${1:?usage: lint_selftest.sh JSCPD}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0

fresh() {
	rm -rf "$tmp/t"
	mkdir -p "$tmp/t"
	cp -r "$root/src" "$root/bpf" "$root/include" "$root/scripts" "$tmp/t/"
}

layers() { bash "$tmp/t/scripts/check_layers.sh" "$tmp/t/src"; }
sizes() {
	(cd "$tmp/t" && python3 scripts/check_size.py --allow scripts/size-allow.txt src bpf)
}
copies() { (cd "$tmp/t" && "$jscpd" $JSCPD_FLAGS src); }

# gate, what is planted, then the plant as a command run in the copy
expect_fail() {
	local gate=$1 what=$2
	shift 2
	fresh
	(cd "$tmp/t" && eval "$*")
	if $gate >/dev/null 2>&1; then
		echo "lint-selftest: FAIL: $gate passed $what"
		fail=1
	else
		echo "lint-selftest: $gate refuses $what"
	fi
}

fresh
for gate in layers sizes copies; do
	if ! $gate >/dev/null 2>&1; then
		echo "lint-selftest: FAIL: $gate fails on the tree as it is"
		fail=1
	fi
done

expect_fail layers "an angle-bracket include across layers" \
	"echo '#include <app/app.h>' >> src/state/view.c"
expect_fail layers "a path that normalises across layers" \
	"echo '#include \"state/../app/app.h\"' >> src/rules/rules.h"
expect_fail layers "a right-to-left quoted include" \
	"echo '#include \"outputs/outputs.h\"' >> src/capture/capture.c"
expect_fail layers "bpf/ including src/" \
	"echo '#include \"app/app.h\"' >> bpf/lib/maps.h"
expect_fail layers "include/ including src/" \
	"echo '#include \"../src/lib/log.h\"' >> include/saker_abi.h"
expect_fail sizes "a .c file over 900 lines" \
	"for i in \$(seq 901); do echo '/* line */'; done > src/lib/planted.c"
expect_fail sizes "a function over 80 lines" \
	"{ echo 'int planted(void);'; echo 'int planted(void)'; echo '{'; echo '	int x = 0;';
	   for i in \$(seq 80); do echo '	x++;'; done; echo '	return x;'; echo '}'; } > src/lib/planted.c"
expect_fail sizes "an allow-list entry without a reason" \
	"echo 'src/lib/planted.c' >> scripts/size-allow.txt"
expect_fail copies "a copied file" \
	"cp src/config/config.c src/config/planted.c"
exit $fail
