#!/usr/bin/env bash
# Regenerates every committed report from the repository root: bash reports/regenerate.sh
# Each line is the exact command recorded in that report's provenance; tests/report/test_reports.py
# fails when a committed report is stale or when this list and the reports disagree.
# A suite that finds a failure (exit 1) or an undecided verdict (exit 3) still writes its
# report; only bad input (exit 2) stops here.
set -uo pipefail
cd "$(dirname "$0")/.."

run() {
    echo "+ $*"
    "$@"
    rc=$?
    if [ "$rc" -eq 2 ]; then
        echo "bad input (exit 2): fix the scenarios before regenerating" >&2
        exit 2
    fi
}

run lockbreak suite scenarios --out reports/public
run lockbreak suite scenarios/nested-v2.6.12.toml scenarios/nested-wakeup-v2.6.12.toml scenarios/stale-data-reread-v2.6.12.toml --out reports/eras --versions v2.6.8,v2.6.9,v2.6.12,v2.6.20,v2.6.25,v5.17
