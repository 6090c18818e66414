#!/usr/bin/env bash
# Spend proof (outside CI; builds tari_core): a wallet file the service made for a fixture wallet holds
# outputs that wallet can spend. Serves the fixture database with the real `tari-wallet-sync serve`
# (imported from the node's LMDB, full outputs from it), syncs fixture wallet w0 with the example wallet
# client over HTTP, then `node-fixture spend` spends one of the file's outputs with the official
# TransactionBuilder and adds the block through the node's real block-body validators.
# usage: tools/node-fixture/spend-proof.sh [WALLET]   (default w0)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
wallet=${1:-w0}
work=$(mktemp -d)
trap 'kill $(cat "$work/serve.pid" 2>/dev/null) 2>/dev/null; chmod -R u+w "$work"; rm -rf "$work"' EXIT

(cd "$here" && cargo build -q --locked)
(cd "$root" && cargo build -q -p tari-wallet-sync-plugin --bin tari-wallet-sync && cargo build -q --example wallet_client)
bin="$root/target/debug"

mkdir -p "$work/db" "$work/spend-db"
zstd -d -q "$root/tests/fixtures/node-lmdb/data.mdb.zst" -o "$work/db/data.mdb"
cp "$work/db/data.mdb" "$work/spend-db/data.mdb"
python3 - "$root/tests/fixtures/node-lmdb/manifest.json" "$wallet" > "$work/wallets.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
w = next(w for w in m["wallets"] if w["name"] == sys.argv[2])
print(json.dumps([{"name": w["name"], "view_key": w["view_private_key"], "spend_public_key": w["spend_public_key"], "birthday": 0}]))
PY
echo "a fixture password" > "$work/password"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
TWS_LOG=warn "$bin/tari-wallet-sync" serve --listen "127.0.0.1:$port" --data-dir "$work/data" --lmdb-dir "$work/db" \
  > "$work/serve.log" 2>&1 &
echo $! > "$work/serve.pid"
for _ in $(seq 1 100); do
  curl -sf "http://127.0.0.1:$port/ready" > /dev/null && break
  sleep 0.2
done
"$bin/examples/wallet_client" --server "http://127.0.0.1:$port" --wallets "$work/wallets.json" --name "$wallet" \
  --password-file "$work/password" --out "$work/$wallet.sqlite"
"$here/target/debug/node-fixture" spend --db "$work/spend-db" --file "$work/$wallet.sqlite" --wallet "$wallet"
