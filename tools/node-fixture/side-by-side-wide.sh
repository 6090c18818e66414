#!/usr/bin/env bash
# minotari-cli and the service side by side on a chain of many outputs per block, mined by the REAL base
# node (outside CI: it needs the node built by ../shared/real-node/build-node.sh, this tool, which builds
# tari_core, and a minotari-cli binary built outside the repository). In a loopback-only network
# namespace, minotari_node 6.3.0-pre.2 on LocalNet mines BLOCKS blocks of OUTPUTS coinbases each
# (mine-wide.py: the node builds and validates every block); wallet wide0 gets one coinbase every EVERY-th
# block (default 5) from block 1, so its history spans the chain, and seven other wallets get the rest. The node
# stops, and `examples/side_by_side --lmdb` serves its database through the fake node (the base node's
# HTTP wallet API, with a per-page delay) to minotari-cli's `scan` and to the service, and prints time and
# bytes on the wire for each, and both balances by minotari-cli's own `balance`.
# minotari-cli 5026c61 scans nothing of such a chain: its downloader sends its end-of-scan marker as soon
# as the last page is downloaded, ahead of the pages still being processed, and a page of 25 blocks of 500
# outputs takes longer to process than the whole chain to download. Measure with a build whose end marker
# is queued behind the pages (docs/performance.md says how); the unpatched binary shows the failure.
# usage: tools/node-fixture/side-by-side-wide.sh MINOTARI_CLI [BLOCKS] [OUTPUTS] [WORK_DIR] [EVERY]
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
shared=$(cd "$root/../shared/real-node" && pwd)
minotari=$(realpath "${1:?usage: side-by-side-wide.sh MINOTARI_CLI [BLOCKS] [OUTPUTS] [WORK_DIR]}")
blocks=${2:-100}
outputs=${3:-500}
work=${4:-$(mktemp -d /tmp/side-by-side-wide.XXXX)}
every=${5:-5}
mkdir -p "$work"
echo "work dir: $work"

(cd "$here" && cargo build -q --locked)
(cd "$root" && cargo build -q --release --example side_by_side)
"$here/target/debug/node-fixture" wallets --prefix wide --count 8 --network localnet --out "$work/wallets.json"
db="$work/node/localnet/data/base_node/db"
if [ ! -f "$work/mined.json" ]; then
  export MINE="$here/mine-wide.py" WORK="$work" BLOCKS="$blocks" OUTPUTS="$outputs" EVERY="$every"
  "$shared/run-in-netns.sh" "$work/node" bash -c \
    'python3 "$MINE" "127.0.0.1:$GRPC" "$WORK/wallets.json" "$BLOCKS" "$OUTPUTS" "$EVERY" > "$WORK/mined.json"'
fi
cat "$work/mined.json"
du -h "$db/data.mdb"
"$root/target/release/examples/side_by_side" --minotari "$minotari" --lmdb "$db" --wallets "$work/wallets.json" \
  --wallet wide0 --runs "${RUNS:-3}"
