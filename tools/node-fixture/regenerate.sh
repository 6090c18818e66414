#!/usr/bin/env bash
# Regenerates tests/fixtures/node-lmdb/{data.mdb.zst,manifest.json} and checks the shipped copy.
# Needs the Debian packages protobuf-compiler, cmake, lmdb-utils and zstd (see README.md).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
fixtures="$root/tests/fixtures/node-lmdb"
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT

cd "$here"
cargo build --locked
./target/debug/node-fixture generate --out "$work/out"

# Compact (drops free pages and the sparse map size), then compress. Only data.mdb is shipped: the node opens
# LMDB with MDB_NOLOCK, so there is no lock.mdb, and Tari's own .chain_storage_file.lock is not needed to read.
mkdir "$work/compact"
mdb_copy -c "$work/out/db" "$work/compact"
mkdir -p "$fixtures"
zstd -19 -q -f "$work/compact/data.mdb" -o "$fixtures/data.mdb.zst"
cp "$work/out/manifest.json" "$fixtures/manifest.json"

# Check what was shipped, opened read-only as an outside reader would.
mkdir "$work/check"
zstd -d -q "$fixtures/data.mdb.zst" -o "$work/check/data.mdb"
chmod -R a-w "$work/check"
mdb_stat -a "$work/check" | awk '/^Status of/ { name = substr($0, 11) } /Entries:/ { printf "  %-36s %s\n", name, $2 }'
./target/debug/node-fixture verify --db "$work/check" --manifest "$fixtures/manifest.json"
ls -l "$fixtures"

# A database of another network, as a fresh Igor node leaves it at its first start (genesis only):
# for the reader's network checks.
other="$root/tests/fixtures/node-lmdb-igor"
./target/debug/node-fixture empty --network igor --out "$work/igor"
mkdir "$work/igor-compact"
mdb_copy -c "$work/igor" "$work/igor-compact"
mkdir -p "$other"
zstd -19 -q -f "$work/igor-compact/data.mdb" -o "$other/data.mdb.zst"
ls -l "$other"

# Every network's genesis hash, each hashed under its own network (the table in src/network.rs).
for network in mainnet stagenet nextnet esmeralda igor localnet; do
  ./target/debug/node-fixture genesis --network "$network"
done
