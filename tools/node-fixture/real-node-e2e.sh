#!/usr/bin/env bash
# End to end against a REAL base node (outside CI: it needs the node built by ../shared/real-node/build-node.sh
# and this tool, which builds tari_core). In a loopback-only network namespace, the real minotari_node
# 6.3.0-pre.2 runs on LocalNet and mines 60 blocks paying four test wallets (../shared/real-node/mine.py,
# through the node's own gRPC block template and validators). Then:
#   1. `tari-wallet-sync serve --node-url` follows the node's own HTTP wallet query service (network told by
#      the node's genesis) and every wallet syncs through the HTTP API with the example wallet client;
#   2. one output of wallet rn0's downloaded file is spent to rn1 and submitted to the node's mempool
#      (`node-fixture submit`: the node's validators must accept it), five more blocks are mined, and every
#      wallet syncs again;
#   3. the node stops; `tari-wallet-sync import` reads its LMDB (network told by its genesis) and `export
#      --lmdb` writes each wallet's file from it;
#   4. `node-fixture judge` recognises every output of the node's database with the official key manager and
#      checks both sets of files: the same outputs, values and spends, each output the chain's own (field by
#      field, same hash, signature and range proof verified).
# usage: tools/node-fixture/real-node-e2e.sh [WORK_DIR]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=$(cd "$root/../shared/real-node" && pwd)
work=${1:-$(mktemp -d /tmp/real-node-e2e.XXXX)}
mkdir -p "$work"
echo "work dir: $work"

(cd "$here" && cargo build -q --locked)
(cd "$root" && cargo build -q -p tari-wallet-sync-plugin --bin tari-wallet-sync && cargo build -q --example wallet_client)
export TOOL="$here/target/debug/node-fixture" TWS="$root/target/debug/tari-wallet-sync" \
  CLIENT="$root/target/debug/examples/wallet_client" MINE="$shared/mine.py" WORK="$work"
"$TOOL" wallets --prefix rn --count 4 --network localnet --out "$work/wallets.json"
echo "a real-node password" > "$work/password"
names=$(python3 -c "import json;print(' '.join(w['name'] for w in json.load(open('$work/wallets.json'))))")
export NAMES="$names"

# The node's gRPC serves only what it allows: the mining set (--mining-enabled), plus submitting a
# transaction for the spend (its environment configuration: TARI_ + key with `__` for `.`).
export TARI_BASE_NODE__GRPC_SERVER_ALLOW_METHODS="get_version,get_tip_info,submit_transaction"
"$shared/run-in-netns.sh" "$work/node" bash -c '
set -euo pipefail
sync_all() {  # $1: directory for the files
  mkdir -p "$1"
  for w in $NAMES; do
    "$CLIENT" --server http://127.0.0.1:18080 --wallets "$WORK/wallets.json" --name "$w" --password-file "$WORK/password" \
      --out "$1/$w.sqlite" | tail -2
  done
}
wait_tip() {  # until the service'"'"'s cache is at the node'"'"'s tip
  local tip
  tip=$(curl -s "http://127.0.0.1:$HTTP/get_tip_info" | python3 -c "import json,sys;print(json.load(sys.stdin)[\"metadata\"][\"best_block_height\"])")
  for _ in $(seq 1 300); do
    [ "$(curl -s http://127.0.0.1:18080/ready | python3 -c "import json,sys;print(json.load(sys.stdin).get(\"cache_tip_height\"))")" = "$tip" ] && return 0
    sleep 0.2
  done
  echo "the service never reached the node tip $tip"; return 1
}
python3 "$MINE" "127.0.0.1:$GRPC" "$WORK/wallets.json" 60
curl -s "http://127.0.0.1:$HTTP/get_tip_info"; echo
TWS_LOG=info "$TWS" serve --listen 127.0.0.1:18080 --data-dir "$WORK/data" --node-url "http://127.0.0.1:$HTTP" \
  > "$WORK/serve.log" 2>&1 &
serve=$!
wait_tip
sync_all "$WORK/served-before"
"$TOOL" submit --grpc "127.0.0.1:$GRPC" --file "$WORK/served-before/rn0.sqlite" --wallet rn0 --to rn1
python3 "$MINE" "127.0.0.1:$GRPC" "$WORK/wallets.json" 5
wait_tip
sync_all "$WORK/served"
kill $serve; wait $serve || true
'

# The node has stopped: its database is safe to read.
db="$work/node/localnet/data/base_node/db"
rm -rf "$work/import-db" "$work/judge-db" "$work/imported" "$work/exported"
mkdir -p "$work/import-db" "$work/judge-db" "$work/exported"
cp "$db/data.mdb" "$work/import-db/" && cp "$db/data.mdb" "$work/judge-db/"
"$TWS" import --lmdb "$work/import-db" --cache "$work/imported"
python3 - "$work" <<'PY'
import json, sys, subprocess
work = sys.argv[1]
for w in json.load(open(f"{work}/wallets.json")):
    open(f"{work}/exported/{w['name']}.key", "w").write(w["view_key"])
PY
for w in $names; do
  "$TWS" export --cache "$work/imported" --lmdb "$work/import-db" --view-key-file "$work/exported/$w.key" \
    --spend-public-key "$(python3 -c "import json;print(next(x['spend_public_key'] for x in json.load(open('$work/wallets.json')) if x['name']=='$w'))")" \
    --password-file "$work/password" --out "$work/exported/$w.db.zst"
  zstd -d -q -f "$work/exported/$w.db.zst" -o "$work/exported/$w.sqlite"
done
echo "== judged by the official key manager: files served over HTTP from the followed node"
"$TOOL" judge --db "$work/judge-db" --network localnet --wallets "$work/wallets.json" --files "$work/served"
echo "== judged by the official key manager: files exported from the node's LMDB"
"$TOOL" judge --db "$work/judge-db" --network localnet --wallets "$work/wallets.json" --files "$work/exported"
grep -E "network|caught up|full outputs for jobs|job ready" "$work/serve.log" | head -20
