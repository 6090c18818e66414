#!/usr/bin/env bash
# minotari-cli on our wallet files (outside CI; minotari-cli is built outside this repository, e.g. from
# tari-project/minotari-cli at 5026c61 with `cargo build -p minotari --bin minotari`). For each wallet file
# of a real-node-e2e.sh run (served over HTTP, each already judged to hold exactly the chain's outputs):
# the client opens it, shows its balance and builds an unsigned one-sided transaction spending from it
# (`create-unsigned-transaction`: inputs from the stored `wallet_output_json`); every input's output hash
# must be one of the file's outputs, whose hashes the judge matched to the chain.
# usage: tools/node-fixture/minotari-cli-check.sh MINOTARI_BIN E2E_WORK_DIR
set -euo pipefail
minotari=$(realpath "$1")
work=$(realpath "$2")
run=$(mktemp -d)
trap 'rm -rf "$run"' EXIT
cd "$run"
names=$(python3 -c "import json;print(' '.join(w['name'] for w in json.load(open('$work/wallets.json'))))")
to=$(python3 -c "import json;print(json.load(open('$work/wallets.json'))[-1]['address'])")
for w in $names; do
  cp "$work/served/$w.sqlite" "$w.db"
  "$minotari" --network localnet balance -d "$w.db" 2>&1 | grep -i balance
  "$minotari" --network localnet create-unsigned-transaction -p "$(cat "$work/password")" -d "$w.db" -a default \
    -r "$to::1000000" -o "$w.unsigned.json" > "$w.log" 2>&1 || { cat "$w.log"; exit 1; }
  python3 - "$w.unsigned.json" "$work/served/$w.sqlite" "$w" <<'PY'
import json, sqlite3, sys
tx = json.load(open(sys.argv[1]))
ours = {bytes(r[0]).hex(): json.loads(r[1])["commitment"]
        for r in sqlite3.connect(sys.argv[2]).execute("SELECT output_hash, wallet_output_json FROM outputs")}
inputs = tx["info"]["inputs"]
for i in inputs:
    h = bytes(i["output_hash"]).hex()
    assert ours.get(h) == i["commitment"], f"input {h} is not one of the file's outputs"
print(f"{sys.argv[3]}: create-unsigned-transaction built {len(inputs)} input(s); every input's output hash is the chain's ({', '.join(bytes(i['output_hash']).hex()[:16] for i in inputs)}...)")
PY
done
