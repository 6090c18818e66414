"""Mines LocalNet blocks with many outputs each on a real minotari_node, through its gRPC mining methods
(GetNewBlockTemplate, GetNewBlockWithCoinbases, SubmitBlock): the node builds and fully validates every
block. A chain for measuring a wallet against a crowd: the first wallet of WALLETS.json (the measured one)
gets one coinbase every EVERY-th block from block 1, so its history spans the whole chain; every other
coinbase of a block pays the other wallets in turn (strangers to it). Stealth and plain-key outputs
alternate; one coinbase in four has a revealed-value proof, the rest a BulletProof+ range proof.

usage: python3 mine-wide.py GRPC_ADDR WALLETS.json BLOCKS OUTPUTS_PER_BLOCK [EVERY]
WALLETS.json: `node-fixture wallets` output (objects with "address", a LocalNet Tari address). Needs
grpcio and grpcio-tools (pip); the stubs are generated from the minotari_app_grpc crate's protos.
"""
import glob, json, os, subprocess, sys, tempfile, time


def stubs():
    protos = sorted(glob.glob(os.path.expanduser("~/.cargo/registry/src/*/minotari_app_grpc-6.3.0-pre.2/proto")))
    if not protos:
        sys.exit("minotari_app_grpc 6.3.0-pre.2 sources not found: build the node first (build-node.sh)")
    out = tempfile.mkdtemp()
    files = glob.glob(os.path.join(protos[-1], "*.proto"))
    subprocess.run([sys.executable, "-m", "grpc_tools.protoc", "-I" + protos[-1], "--python_out=" + out,
                    "--grpc_python_out=" + out] + files, check=True, capture_output=True)
    sys.path.insert(0, out)


stubs()
import grpc  # noqa: E402
import base_node_pb2 as bn, base_node_pb2_grpc as bng, block_pb2, types_pb2  # noqa: E402

addr, wallets = sys.argv[1], json.load(open(sys.argv[2]))
blocks, per_block = int(sys.argv[3]), int(sys.argv[4])
every = int(sys.argv[5]) if len(sys.argv) > 5 else 5
measured, crowd = wallets[0], wallets[1:]
if not crowd or not 1 <= per_block <= 1000:
    sys.exit("needs at least two wallets and 1..1000 outputs per block (LocalNet's max_block_coinbase_count)")
# Blocks of a thousand outputs are large: let gRPC carry them.
options = [("grpc.max_send_message_length", 256 << 20), ("grpc.max_receive_message_length", 256 << 20)]
stub = bng.BaseNodeStub(grpc.insecure_channel(addr, options=options))
sha3x = block_pb2.PowAlgo(pow_algo=block_pb2.PowAlgo.POW_ALGOS_SHA3X)
started, paid_measured, next_stranger = time.time(), 0, 0
for i in range(blocks):
    t = stub.GetNewBlockTemplate(bn.NewBlockTemplateRequest(algo=sha3x, max_weight=0))
    height = t.new_block_template.header.height
    reward = t.miner_data.reward + t.miner_data.total_fees
    payees = []
    if (height - 1) % every == 0:
        payees.append(measured)
        paid_measured += 1
    while len(payees) < per_block:
        payees.append(crowd[next_stranger % len(crowd)])
        next_stranger += 1
    shares = [reward // len(payees)] * len(payees)
    shares[0] += reward - sum(shares)
    coinbases = [bn.NewBlockCoinbase(address=p["address"], value=v, stealth_payment=(height + k) % 2 == 0,
                                      revealed_value_proof=(height + k) % 4 == 0,
                                      coinbase_extra=f"h{height}c{k}".encode())
                 for k, (p, v) in enumerate(zip(payees, shares))]
    r = stub.GetNewBlockWithCoinbases(bn.GetNewBlockWithCoinbasesRequest(new_template=t.new_block_template,
                                                                         coinbases=coinbases))
    stub.SubmitBlock(r.block)
    if (i + 1) % 10 == 0:
        print(f"mined {i + 1}/{blocks} ({time.time() - started:.0f} s)", file=sys.stderr, flush=True)
tip = stub.GetTipInfo(types_pb2.Empty()).metadata.best_block_height
print(json.dumps({"tip": tip, "outputs_per_block": per_block, "measured": measured["name"],
                  "measured_coinbases": paid_measured, "seconds": round(time.time() - started, 1)}))
