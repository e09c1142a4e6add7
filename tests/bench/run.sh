#!/bin/sh
# run.sh - runs the benchmarks (tests/bench/bench_*.c, built into
# BUILD_DIR/tests) with the workload dir and prints their figures.
# Benchmarks never judge a time; this fails only if one of them fails.
#
# usage: tests/bench/run.sh BUILD_DIR            every benchmark
#        tests/bench/run.sh BUILD_DIR NAME [ARG...]
#                                  one (e.g. bench_store -r 5), with its
#                                  own options; each takes the workload
#                                  dir as its last argument
# The workload dir is $RK_BENCH_DATA, else ../shared/bench beside the repo.
set -eu

if [ $# -lt 1 ]; then
	echo "usage: $0 BUILD_DIR [NAME [ARG...]]" >&2
	exit 2
fi
build=$1
shift
only=
if [ $# -gt 0 ]; then
	only=$1
	shift
fi
here=$(cd "$(dirname "$0")" && pwd)
data=${RK_BENCH_DATA:-$here/../../../shared/bench}
if [ ! -d "$data" ]; then
	echo "$0: no workload dir $data (set RK_BENCH_DATA)" >&2
	exit 2
fi
data=$(cd "$data" && pwd)

status=0
found=0
for src in "$here"/bench_*.c; do
	[ -e "$src" ] || continue
	name=$(basename "$src" .c)
	if [ -n "$only" ] && [ "$name" != "$only" ]; then
		continue
	fi
	found=$((found + 1))
	bin=$build/tests/$name
	if [ ! -x "$bin" ]; then
		echo "$0: $bin is not built (cmake --build $build)" >&2
		status=1
		continue
	fi
	echo "== $name"
	if ! "$bin" "$@" "$data"; then
		echo "$0: $name failed" >&2
		status=1
	fi
	echo
done
if [ "$found" -eq 0 ]; then
	echo "$0: no benchmark ${only:-bench_*} in $here" >&2
	status=1
fi
exit $status
# bench_sync: RK_BENCH_QUICK=1 selects its quick run (visits-10000, 10 devices); not --quick here: bench_store would refuse the flag.
