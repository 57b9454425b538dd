#!/usr/bin/env bash
# Mutation scores of the money core, each module against its own tests.
#
# For each module below, mutmut mutates that one file and runs only the unit
# and property tests written for it, so a score says how well those tests pin
# the module down, not how often the rest of the suite happens to pass through
# it. Prints a table and fails if any module scores under the threshold.
#
#   bash scripts/mutation.sh                   # all three modules
#   bash scripts/mutation.sh fees              # one of them
#   MUTATION_THRESHOLD=95 bash scripts/mutation.sh
#   MUTATION_KEEP=1 bash scripts/mutation.sh   # keep the work tree to read survivors
#
# The score is killed / all mutants: a survivor counts against the module even
# if it is an equivalent mutant, so the bar is, if anything, higher than asked.
# Needs mutmut 3 and the test extras: python -m pip install -e ".[mutation]".
set -euo pipefail
cd "$(dirname "$0")/.."

threshold="${MUTATION_THRESHOLD:-90}"
jobs="${MUTATION_JOBS:-2}"

# name | file mutated | tests that speak for it. The ledger's state machine runs
# on the in-memory store only: the SQLite and PostgreSQL runs of the same
# machine test the adapters, not this module, and would multiply the time.
ledger_machine="tests/property/test_ledger_machine.py"
modules=(
    "money|src/gigmarket/money.py|tests/unit/test_money.py tests/unit/test_money_inputs.py tests/property/test_money_properties.py"
    "fees|src/gigmarket/escrow/fees.py|tests/unit/test_fees.py tests/property/test_fee_properties.py"
    "transaction|src/gigmarket/escrow/transaction.py|tests/unit/test_ledger.py tests/unit/test_ledger_refusals.py $ledger_machine --deselect=$ledger_machine::TestSQLiteLedgerMachine --deselect=$ledger_machine::TestPostgresLedgerMachine"
)

if ! command -v mutmut > /dev/null; then
    echo "mutmut is not installed: python -m pip install -e \".[mutation]\"" >&2
    exit 2
fi
if grep -q '^\[tool\.mutmut\]' pyproject.toml; then
    echo "pyproject.toml has its own [tool.mutmut]; this script writes one per module" >&2
    exit 2
fi

selected=("$@")
work="$(mktemp -d)"
if [[ -z "${MUTATION_KEEP:-}" ]]; then
    trap 'rm -rf "$work"' EXIT
else
    echo "work tree kept in $work"
fi

# One snapshot of the tree, taken before anything runs, so that editing files
# during a long run cannot mix two versions of the code into one score.
mkdir "$work/snapshot"
cp -R src tests pyproject.toml "$work/snapshot/"
find "$work/snapshot" -name __pycache__ -prune -exec rm -rf {} +

# The state machines and property tests run with a fixed seed and the quick
# profile: a mutant's verdict must not depend on the luck of a draw.
export HYPOTHESIS_PROFILE=dev
unset CI

results=()
failed=0
for spec in "${modules[@]}"; do
    IFS="|" read -r name target tests <<< "$spec"
    if [[ ${#selected[@]} -gt 0 && ! " ${selected[*]} " =~ " $name " ]]; then
        continue
    fi
    dir="$work/$name"
    cp -R "$work/snapshot" "$dir"
    {
        echo
        echo "[tool.mutmut]"
        echo "source_paths = [\"src/\"]"
        echo "only_mutate = [\"$target\"]"
        echo 'pytest_add_cli_args = ["--no-cov", "-p", "no:cacheprovider", "--hypothesis-seed=0"]'
        printf 'pytest_add_cli_args_test_selection = ['
        sep=""
        for test in $tests; do
            printf '%s"%s"' "$sep" "$test"
            sep=", "
        done
        echo "]"
    } >> "$dir/pyproject.toml"

    echo "::: $name: mutating $target against $tests"
    start=$SECONDS
    if ! (cd "$dir" && mutmut run --max-children "$jobs" > mutmut.log 2>&1); then
        tail -n 40 "$dir/mutmut.log" | tr '\r' '\n' | tail -n 40
        echo "mutmut failed on $name" >&2
        exit 2
    fi
    elapsed=$((SECONDS - start))
    (cd "$dir" && mutmut results --all true > results.txt)
    killed=$(grep -c ': killed$' "$dir/results.txt" || true)
    total=$(grep -c ': ' "$dir/results.txt" || true)
    grep -v ': killed$' "$dir/results.txt" | sed "s/^ */    /" || true
    score=$(python3 -c "print(f'{100 * $killed / $total:.1f}' if $total else '0.0')")
    verdict=ok
    if python3 -c "import sys; sys.exit(0 if $total and 100 * $killed >= $threshold * $total else 1)"; then
        verdict=ok
    else
        verdict=FAIL
        failed=1
    fi
    results+=("$(printf '%-12s %7s %7s %7s%%  %5ss  %s' "$name" "$killed" "$total" "$score" "$elapsed" "$verdict")")
done

echo
printf '%-12s %7s %7s %8s  %6s  %s\n' module killed total score time "(threshold ${threshold}%)"
for line in "${results[@]}"; do
    echo "$line"
done
exit "$failed"
