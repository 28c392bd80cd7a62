#!/bin/sh
# SPDX-License-Identifier: GPL-2.0-or-later
#
# Runs a command (vhostd and its arguments) under valgrind's memcheck, in the same process, so
# whoever started it can signal and wait for it as for the daemon itself:
#
#   VHOSTD_WRAPPER=tests/valgrind/memcheck.sh tests/frontend/run.sh server PROG
#
# Any invalid access, use of uninitialised memory or definite/indirect leak at exit makes the
# exit status 99 (a clean run keeps the daemon's own status). The report goes to
# $VHOSTD_WRAPPER_LOG when set (run.sh shows it when a test fails), else to stderr.
# VALGRIND_EXTRA adds memcheck options (split on blanks), e.g. --gen-suppressions=all.
set -eu
: "${1:?usage: memcheck.sh COMMAND [ARGS...]}"
command -v valgrind >/dev/null || { echo "memcheck.sh: valgrind is not installed" >&2; exit 127; }
log=${VHOSTD_WRAPPER_LOG:+--log-file=$VHOSTD_WRAPPER_LOG}
# shellcheck disable=SC2086 # $log and $VALGRIND_EXTRA are lists of options, split on purpose
exec valgrind --tool=memcheck --error-exitcode=99 --leak-check=full \
	--errors-for-leak-kinds=definite,indirect --show-leak-kinds=definite,indirect \
	--track-fds=no --num-callers=32 --suppressions="$(dirname "$0")/vhostd.supp" \
	$log ${VALGRIND_EXTRA:-} "$@"
