#!/usr/bin/env bash
# A local Smart Rollup network on one machine, set up exactly as an operator would:
#   1. a sandbox L1 (smart-rollup-sandbox) with the Octez bootstrap accounts, one block every second, and
#      short rollup constants for a demo (commitment period 5 blocks, challenge window 10 blocks);
#   2. the bootstrap1 key (client) and the bootstrap3 key as `operator` imported into a client base dir
#      (smart-rollup-client import secret key);
#   3. a wasm_2_0_0 rollup of type bytes originated with the real installer kernel
#      (kernels/target/installer/counter-installer.hex, which reveals the counter kernel);
#   4. the installer's preimages (counter-preimages/) served over HTTP on loopback as the pre-images endpoint;
#   5. smart-rollup-node `-d <client dir> init maintenance config for <sr1> with operators operator …`
#      then `-d <client dir> -E <L1> run --data-dir …`: the node stakes 10 000 tez, publishes a
#      commitment every period and cements it once the challenge window has passed;
#   6. an external message sent with the client once the node reports healthy;
#   7. the DAL: a second rollup with the dal-reader kernel (kernels/dal-reader, which imports the DAL slot an
#      external signal names, as Etherlink imports blueprints) followed by an observer node with --dal-node
#      on the sandbox's DAL node RPC; a slot posted to it and its commitment published on L1 with
#      `smart-rollup-client post dal slot <data> and publish from bootstrap2 for slot 0`, attested after the
#      attestation lag, then signalled.
# Then prints the RPC addresses and commands to try, and runs until Ctrl-C (clean shutdown of everything).
#
# Usage: scripts/local-network.sh [--check]
#   --check   non-interactive: after the message is sent, wait until the node's durable /last_message holds
#             it, until the node has published and cemented a commitment on L1 and executed an outbox
#             message, and until the DAL rollup's node holds the slot's payload; print PASS and exit 0
#             (or FAIL with the logs' tails and exit 1).
# Needs the kernels (scripts/build-kernels.sh) and the binaries (cargo build --release) built: scripts/main.sh
# does both. Environment: BIN_DIR (default target/release), SANDBOX_PORT, PREIMAGES_PORT, NODE_RPC_PORT
# (preferred ports; a free one is taken when busy), LOCAL_NETWORK_TIMEOUT (seconds per wait, default 120).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

CHECK=0
case "${1:-}" in
  "") ;;
  --check) CHECK=1 ;;
  -h | --help)
    # The header comment, up to the first line of code.
    awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"
    exit 0
    ;;
  *)
    echo "local-network: unknown argument $1 (usage: $0 [--check])" >&2
    exit 2
    ;;
esac

BIN_DIR=${BIN_DIR:-$ROOT/target/release}
TIMEOUT=${LOCAL_NETWORK_TIMEOUT:-120}
NET=$ROOT/.local-network
LOGS=$NET/logs
INSTALLER_DIR=$ROOT/kernels/target/installer
INSTALLER_HEX=$INSTALLER_DIR/counter-installer.hex
PREIMAGES_DIR=$INSTALLER_DIR/counter-preimages
ROLLUP_ALIAS=counter
MESSAGE="hello from the local network"
DAL_KERNEL=$ROOT/kernels/target/wasm32-unknown-unknown/release/dal-reader.wasm
DAL_PAYLOAD="a blueprint from the DAL"

SANDBOX=$BIN_DIR/smart-rollup-sandbox
CLIENT=$BIN_DIR/smart-rollup-client
NODE=$BIN_DIR/smart-rollup-node

say() { printf '== %s\n' "$*"; }

# PIDs of the processes this script started, and their names (for messages and cleanup).
declare -a PIDS=()
declare -A NAMES=()

cleanup() {
  local pid waited
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  # Bounded wait for a clean shutdown, then SIGKILL whatever is left.
  for pid in "${PIDS[@]}"; do
    waited=0
    while kill -0 "$pid" 2>/dev/null && ((waited < 50)); do
      sleep 0.1
      waited=$((waited + 1))
    done
    if kill -0 "$pid" 2>/dev/null; then
      echo "local-network: ${NAMES[$pid]} (pid $pid) did not stop within 5 s; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  PIDS=()
}
trap cleanup EXIT
trap 'echo; say "stopping"; cleanup; exit 130' INT
trap 'cleanup; exit 143' TERM

LOGS_FRESH=0 # set once .local-network/ is reset: older logs are not this run's
show_logs() {
  local f
  ((LOGS_FRESH)) || return 0
  for f in "$LOGS"/*.log; do
    [[ -f $f ]] || continue
    echo "---- last 25 lines of ${f#"$ROOT"/}"
    tail -n 25 "$f"
  done
}

# fail <message>: prints FAIL (in --check mode) or an error, the logs' tails, and exits 1.
fail() {
  if ((CHECK)); then echo "FAIL: $*" >&2; else echo "local-network: error: $*" >&2; fi
  show_logs >&2
  exit 1
}

# start <name> <log> <command…>: runs a process in the background, output to its log.
start() {
  local name=$1 log=$2
  shift 2
  "$@" >"$log" 2>&1 &
  PIDS+=("$!")
  NAMES[$!]=$name
}

# alive <pid>: fails (naming the process) if it exited.
alive() {
  kill -0 "$1" 2>/dev/null || fail "${NAMES[$1]} exited unexpectedly (see its log below)"
}

# free_port <preferred>: the preferred loopback port when free, else a free one chosen by the kernel.
free_port() {
  python3 - "$1" <<'EOF'
import socket, sys
def try_bind(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # like the servers: TIME_WAIT is no conflict
    try:
        s.bind(("127.0.0.1", port))
        return s.getsockname()[1]
    except OSError:
        return None
    finally:
        s.close()
print(try_bind(int(sys.argv[1])) or try_bind(0))
EOF
}

# wait_until <description> <pid-to-watch> <command…>: polls the command every 0.5 s, bounded by $TIMEOUT.
wait_until() {
  local what=$1 pid=$2 deadline
  shift 2
  deadline=$((SECONDS + TIMEOUT))
  until "$@"; do
    alive "$pid"
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
  say "$what (at +${SECONDS}s)"
}

# ---- Preconditions --------------------------------------------------------------------------------------------
for b in "$SANDBOX" "$CLIENT" "$NODE"; do
  [[ -x $b ]] || fail "missing binary $b; build it with: cargo build --release --locked -p sandbox -p client -p rollup-node (or run scripts/main.sh)"
done
[[ -f $INSTALLER_HEX && -d $PREIMAGES_DIR && -f $DAL_KERNEL ]] ||
  fail "missing $INSTALLER_HEX, $PREIMAGES_DIR or $DAL_KERNEL; build them with scripts/build-kernels.sh"
for tool in python3 curl; do
  command -v "$tool" >/dev/null || fail "$tool is required (apt-get install $tool)"
done

rm -rf "$NET"
mkdir -p "$LOGS" "$NET/client"
LOGS_FRESH=1

SANDBOX_PORT=$(free_port "${SANDBOX_PORT:-18731}")
PREIMAGES_PORT=$(free_port "${PREIMAGES_PORT:-18780}")
NODE_RPC_PORT=$(free_port "${NODE_RPC_PORT:-18932}")
DAL_NODE_RPC_PORT=$(free_port "${DAL_NODE_RPC_PORT:-18933}")
L1=http://127.0.0.1:$SANDBOX_PORT
PREIMAGES_URL=http://127.0.0.1:$PREIMAGES_PORT
NODE_URL=http://127.0.0.1:$NODE_RPC_PORT
DAL_NODE_URL=http://127.0.0.1:$DAL_NODE_RPC_PORT
client() { "$CLIENT" -E "$L1" -d "$NET/client" "$@"; }

# ---- 1. Sandbox L1 -------------------------------------------------------------------------------------------
say "starting the sandbox L1 on $L1 (data in .local-network/sandbox, 1 block per second, commitment period 5, challenge window 10, DAL on)"
start "the sandbox (smart-rollup-sandbox)" "$LOGS/sandbox.log" \
  "$SANDBOX" run --data-dir "$NET/sandbox" --rpc-addr "127.0.0.1:$SANDBOX_PORT" --block-time 1 --test-constants --dal
SANDBOX_PID=${PIDS[-1]}
l1_ready() { curl -sf --max-time 2 "$L1/chains/main/blocks/head/header" >/dev/null; }
wait_until "sandbox L1 ready" "$SANDBOX_PID" l1_ready ||
  fail "the sandbox did not answer GET /chains/main/blocks/head/header within ${TIMEOUT}s"

# ---- 2. Operator key ------------------------------------------------------------------------------------------
# The sandbox prints its bootstrap accounts as `bootstrapN: tz1… edpk… unencrypted:edsk…`.
BOOTSTRAP1_SK=$(sed -n 's/^bootstrap1: .* \(unencrypted:[A-Za-z0-9]*\)$/\1/p' "$LOGS/sandbox.log" | head -n 1)
[[ -n $BOOTSTRAP1_SK ]] || BOOTSTRAP1_SK=unencrypted:edsk3gUfUPyBSfrS9CCgmCiQsTCHGkviBDusMxDJstFtojtc1zcpsh
say "smart-rollup-client import secret key bootstrap1 $BOOTSTRAP1_SK"
client import secret key bootstrap1 "$BOOTSTRAP1_SK" --force ||
  fail "smart-rollup-client could not import the bootstrap1 key"
OPERATOR_SK=$(sed -n 's/^bootstrap3: .* \(unencrypted:[A-Za-z0-9]*\)$/\1/p' "$LOGS/sandbox.log" | head -n 1)
[[ -n $OPERATOR_SK ]] || OPERATOR_SK=unencrypted:edsk4ArLQgBTLWG5FJmnGnT689VKoqhXwmDPBuGx3z4cvwU9MmrPZZ
say "smart-rollup-client import secret key operator $OPERATOR_SK"
client import secret key operator "$OPERATOR_SK" --force >/dev/null ||
  fail "smart-rollup-client could not import the operator key"
OPERATOR=$(client show address operator 2>/dev/null | sed -n 's/^Hash: //p')

# ---- 3. Rollup origination with the installer kernel --------------------------------------------------------
say "smart-rollup-client originate smart rollup $ROLLUP_ALIAS from bootstrap1 of kind wasm_2_0_0 of type bytes with kernel \"\$(cat ${INSTALLER_HEX#"$ROOT"/})\" --burn-cap 999"
ORIG_OUT=$(client originate smart rollup "$ROLLUP_ALIAS" from bootstrap1 of kind wasm_2_0_0 of type bytes \
  with kernel "$(tr -d '[:space:]' <"$INSTALLER_HEX")" --burn-cap 999 2>&1) || {
  printf '%s\n' "$ORIG_OUT" >"$LOGS/originate.log"
  fail "the rollup origination failed (smart-rollup-client originate smart rollup / sandbox smart_rollup_originate)"
}
printf '%s\n' "$ORIG_OUT" >"$LOGS/originate.log"
ROLLUP=$(grep -o 'sr1[1-9A-HJ-NP-Za-km-z]\{33\}' <<<"$ORIG_OUT" | tail -n 1 || true)
[[ -n $ROLLUP ]] || fail "the client's origination output names no sr1 address (see originate.log)"
say "rollup $ROLLUP originated"

# ---- 4. Pre-images endpoint -----------------------------------------------------------------------------------
say "serving ${PREIMAGES_DIR#"$ROOT"/} on $PREIMAGES_URL"
start "the pre-images HTTP server (python3 -m http.server)" "$LOGS/preimages.log" \
  python3 -u -m http.server "$PREIMAGES_PORT" --bind 127.0.0.1 --directory "$PREIMAGES_DIR"
HTTP_PID=${PIDS[-1]}
ROOT_HASH=$(tr -d '[:space:]' <"$INSTALLER_DIR/counter-root-hash.hex")
preimages_ready() { curl -sf --max-time 2 -o /dev/null "$PREIMAGES_URL/$ROOT_HASH"; }
wait_until "pre-images endpoint ready" "$HTTP_PID" preimages_ready ||
  fail "the pre-images HTTP server does not serve $PREIMAGES_URL/$ROOT_HASH"

# ---- 5. Rollup node (maintenance) ----------------------------------------------------------------------------
say "smart-rollup-node -d .local-network/client init maintenance config for $ROLLUP with operators operator --data-dir .local-network/node --pre-images-endpoint $PREIMAGES_URL --rpc-addr 127.0.0.1 --rpc-port $NODE_RPC_PORT"
"$NODE" -d "$NET/client" init maintenance config for "$ROLLUP" with operators operator --data-dir "$NET/node" \
  --pre-images-endpoint "$PREIMAGES_URL" --rpc-addr 127.0.0.1 --rpc-port "$NODE_RPC_PORT" \
  >"$LOGS/node-init.log" 2>&1 || fail "smart-rollup-node init maintenance config failed (see node-init.log)"
say "smart-rollup-node -d .local-network/client -E $L1 run --data-dir .local-network/node"
start "the rollup node (smart-rollup-node run)" "$LOGS/node.log" \
  "$NODE" -d "$NET/client" -E "$L1" run --data-dir "$NET/node"
NODE_PID=${PIDS[-1]}
node_healthy() { curl -sf --max-time 2 "$NODE_URL/health" | grep -q '"healthy": *true'; }
wait_until "rollup node healthy" "$NODE_PID" node_healthy || {
  echo "last /health: $(curl -s --max-time 2 "$NODE_URL/health" || echo '(no answer)')" >&2
  fail "the rollup node did not report healthy on $NODE_URL/health within ${TIMEOUT}s (its daemon does not follow the L1 head)"
}

# ---- 6. An external message -----------------------------------------------------------------------------------
SEND_CMD="smart-rollup-client -E $L1 -d .local-network/client send smart rollup message 'text:[\"$MESSAGE\"]' from bootstrap1"
say "$SEND_CMD"
client send smart rollup message "text:[\"$MESSAGE\"]" from bootstrap1 >"$LOGS/send.log" 2>&1 ||
  fail "smart-rollup-client send smart rollup message failed (see send.log)"

durable() { curl -sf --max-time 2 "$NODE_URL/global/block/head/durable/wasm_2_0_0/value?key=$1"; }
MESSAGE_HEX=$(printf '%s' "$MESSAGE" | od -An -tx1 -v | tr -d ' \n')

if ((CHECK)); then
  # Before the DAL step: its signal is an external message too, which the counter kernel would store.
  # shellcheck disable=SC2317 # called through wait_until
  message_seen() { durable /last_message | grep -q "\"$MESSAGE_HEX\""; }
  wait_until "the node's durable /last_message holds the message" "$NODE_PID" message_seen || {
    echo "durable /last_message: $(durable /last_message || echo '(no answer)'), /counter: $(durable /counter || echo '(no answer)')" >&2
    echo "durable /kernel/boot.wasm length: $(curl -s --max-time 2 "$NODE_URL/global/block/head/durable/wasm_2_0_0/length?key=/kernel/boot.wasm" || echo '(no answer)')" >&2
    fail "the node's durable /last_message did not show \"$MESSAGE\" within ${TIMEOUT}s (installer reveal / kernel upgrade / inbox processing in the node)"
  }
  say "durable /counter = $(durable /counter)"
fi

# ---- 7. The DAL -----------------------------------------------------------------------------------------------
say "smart-rollup-client originate smart rollup dal from bootstrap1 of kind wasm_2_0_0 of type bytes with kernel \"\$(od -An -tx1 -v ${DAL_KERNEL#"$ROOT"/} | tr -d ' \\n')\" --burn-cap 999"
DAL_ORIG=$(client originate smart rollup dal from bootstrap1 of kind wasm_2_0_0 of type bytes \
  with kernel "$(od -An -tx1 -v "$DAL_KERNEL" | tr -d ' \n')" --burn-cap 999 2>&1) || {
  printf '%s\n' "$DAL_ORIG" >"$LOGS/originate-dal.log"
  fail "the origination of the DAL rollup failed (see originate-dal.log)"
}
printf '%s\n' "$DAL_ORIG" >"$LOGS/originate-dal.log"
DAL_ROLLUP=$(grep -o 'sr1[1-9A-HJ-NP-Za-km-z]\{33\}' <<<"$DAL_ORIG" | tail -n 1 || true)
[[ -n $DAL_ROLLUP ]] || fail "the client's origination output names no sr1 address (see originate-dal.log)"
say "smart-rollup-node init observer config for $DAL_ROLLUP with operators --data-dir .local-network/dal-node --dal-node $L1 --rpc-addr 127.0.0.1 --rpc-port $DAL_NODE_RPC_PORT"
"$NODE" init observer config for "$DAL_ROLLUP" with operators --data-dir "$NET/dal-node" --dal-node "$L1" \
  --rpc-addr 127.0.0.1 --rpc-port "$DAL_NODE_RPC_PORT" >"$LOGS/dal-node-init.log" 2>&1 ||
  fail "smart-rollup-node init observer config failed (see dal-node-init.log)"
start "the DAL rollup's node (smart-rollup-node run)" "$LOGS/dal-node.log" \
  "$NODE" -E "$L1" run --data-dir "$NET/dal-node"
DAL_NODE_PID=${PIDS[-1]}
BOOTSTRAP2_SK=$(sed -n 's/^bootstrap2: .* \(unencrypted:[A-Za-z0-9]*\)$/\1/p' "$LOGS/sandbox.log" | head -n 1)
[[ -n $BOOTSTRAP2_SK ]] || BOOTSTRAP2_SK=unencrypted:edsk39qAm1fiMjgmPkw1EgQYkMzkJezLNewd7PLNHTkr6w9XA2zdfo
client import secret key bootstrap2 "$BOOTSTRAP2_SK" --force >/dev/null ||
  fail "smart-rollup-client could not import the bootstrap2 key"
say "smart-rollup-client post dal slot \"$DAL_PAYLOAD\" and publish from bootstrap2 for slot 0 --dal-node $L1   (the sandbox's DAL node)"
client post dal slot "$DAL_PAYLOAD" and publish from bootstrap2 for slot 0 --dal-node "$L1" \
  >"$LOGS/publish-dal.log" 2>&1 || fail "smart-rollup-client post dal slot … and publish failed (see publish-dal.log)"
DAL_BLOCK=$(sed -n 's/^Operation found in block: \([A-Za-z0-9]*\) .*/\1/p' "$LOGS/publish-dal.log" | head -n 1)
DAL_LEVEL=$(curl -sf --max-time 2 "$L1/chains/main/blocks/$DAL_BLOCK/header" | python3 -c 'import json,sys; print(json.load(sys.stdin)["level"])') ||
  fail "cannot find the level of block $DAL_BLOCK, where the DAL commitment was published"
LAG=$(curl -sf --max-time 2 "$L1/chains/main/blocks/head/context/constants" | python3 -c 'import json,sys; print(json.load(sys.stdin)["dal_parametric"]["attestation_lag"])')
say "slot 0 published at level $DAL_LEVEL; attested at level $((DAL_LEVEL + LAG))"
l1_level() { curl -sf --max-time 2 "$L1/chains/main/blocks/head/header" | python3 -c 'import json,sys; print(json.load(sys.stdin)["level"])'; }
# shellcheck disable=SC2317 # called through wait_until
attested() { [[ $(l1_level) -ge $((DAL_LEVEL + LAG)) ]]; }
wait_until "the DAL slot's attestation level reached" "$SANDBOX_PID" attested ||
  fail "the L1 did not reach level $((DAL_LEVEL + LAG)) within ${TIMEOUT}s"
SIGNAL_HEX=$(printf 'DAL' | od -An -tx1 -v | tr -d ' \n')$(printf '%08x00' "$DAL_LEVEL")
say "smart-rollup-client send smart rollup message 'hex:[\"$SIGNAL_HEX\"]' from bootstrap1   (\"DAL\" ‖ level ‖ slot: the kernel's signal)"
client send smart rollup message "hex:[\"$SIGNAL_HEX\"]" from bootstrap1 >"$LOGS/send-dal.log" 2>&1 ||
  fail "smart-rollup-client send smart rollup message failed (see send-dal.log)"
DAL_PAYLOAD_HEX=$(printf '%s' "$DAL_PAYLOAD" | od -An -tx1 -v | tr -d ' \n')
dal_durable() { curl -sf --max-time 2 "$DAL_NODE_URL/global/block/head/durable/wasm_2_0_0/value?key=$1"; }

if ((CHECK)); then
  # The node publishes its commitments and cements them once the challenge window has passed.
  ROLLUP_RPC="$L1/chains/main/blocks/head/context/smart_rollups/smart_rollup/$ROLLUP"
  ORIGINATION_LEVEL=$(curl -sf --max-time 2 "$ROLLUP_RPC/genesis_info" | python3 -c 'import json,sys; print(json.load(sys.stdin)["level"])')
  lcc_level() { curl -sf --max-time 2 "$ROLLUP_RPC/last_cemented_commitment_hash_with_level" | python3 -c 'import json,sys; print(json.load(sys.stdin)["level"])'; }
  # shellcheck disable=SC2317 # called through wait_until
  cemented() { [[ $(lcc_level) -gt $ORIGINATION_LEVEL ]]; }
  wait_until "a commitment published and cemented by the node" "$NODE_PID" cemented || {
    echo "last published: $(curl -s --max-time 2 "$NODE_URL/local/last_published_commitment" || echo '(no answer)')" >&2
    fail "the L1's last cemented commitment did not pass the origination level $ORIGINATION_LEVEL within ${TIMEOUT}s (staking / publication / cementation by the node in maintenance mode)"
  }
  say "last published commitment: $(curl -s --max-time 2 "$NODE_URL/local/last_published_commitment")"
  say "L1 last cemented commitment at level $(lcc_level), staker $OPERATOR"
  # The counter kernel echoed the message into its outbox: find its level, wait until that level is
  # cemented, and execute it on L1 with the node's output proof.
  outbox_level() {
    # /local/outbox/pending lists the messages not executed yet, by outbox level (the blocks of old
    # levels may be pruned by the GC in full history mode, their outboxes are not).
    curl -sf --max-time 2 "$NODE_URL/local/outbox/pending" |
      python3 -c 'import json,sys; ls=[l["outbox_level"] for l in json.load(sys.stdin) if l["messages"]]; print(min(ls)) if ls else sys.exit(1)'
  }
  OUTBOX_LEVEL=$(outbox_level) || fail "the node shows no outbox message of the counter kernel"
  # shellcheck disable=SC2317 # called through wait_until
  outbox_cemented() { [[ $(lcc_level) -ge $OUTBOX_LEVEL ]]; }
  wait_until "the outbox level $OUTBOX_LEVEL cemented" "$NODE_PID" outbox_cemented ||
    fail "the L1's last cemented commitment did not reach the outbox level $OUTBOX_LEVEL within ${TIMEOUT}s"
  PROOF_JSON=$(curl -sf --max-time 5 "$NODE_URL/global/block/head/helpers/proofs/outbox/$OUTBOX_LEVEL/messages?index=0") ||
    fail "the node gave no output proof for outbox level $OUTBOX_LEVEL (GET /global/block/head/helpers/proofs/outbox/$OUTBOX_LEVEL/messages?index=0)"
  PROOF_COMMITMENT=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["commitment"])' <<<"$PROOF_JSON")
  PROOF_HEX=$(python3 -c 'import json,sys; print(json.load(sys.stdin)["proof"])' <<<"$PROOF_JSON")
  say "smart-rollup-client execute outbox message of smart rollup $ROLLUP from bootstrap1 for commitment hash $PROOF_COMMITMENT and output proof <${#PROOF_HEX} hex digits>"
  client execute outbox message of smart rollup "$ROLLUP" from bootstrap1 for commitment hash \
    "$PROOF_COMMITMENT" and output proof "$PROOF_HEX" >"$LOGS/execute-outbox.log" 2>&1 ||
    fail "smart-rollup-client execute outbox message failed (see execute-outbox.log)"
  say "outbox message of level $OUTBOX_LEVEL executed on L1 (receipt in .local-network/logs/execute-outbox.log)"
  # The DAL rollup's node read the slot's pages from the sandbox's DAL node.
  # shellcheck disable=SC2317 # called through wait_until
  dal_imported() { dal_durable "/dal/$DAL_LEVEL/0/payload" | grep -q "\"$DAL_PAYLOAD_HEX\""; }
  wait_until "the DAL rollup's node holds the slot's payload" "$DAL_NODE_PID" dal_imported || {
    echo "durable /dal/$DAL_LEVEL/0/pages: $(dal_durable "/dal/$DAL_LEVEL/0/pages" || echo '(no answer)')" >&2
    fail "the DAL rollup's durable /dal/$DAL_LEVEL/0/payload did not show \"$DAL_PAYLOAD\" within ${TIMEOUT}s (DAL inbox, reveals or pages from the DAL node)"
  }
  echo "PASS: sandbox L1, installer-originated rollup $ROLLUP, pre-images over HTTP, node in maintenance mode: /last_message = \"$MESSAGE\", commitments published and cemented up to level $(lcc_level), outbox message of level $OUTBOX_LEVEL executed on L1; DAL rollup $DAL_ROLLUP imported \"$DAL_PAYLOAD\" from slot 0 of level $DAL_LEVEL"
  exit 0
fi

cat <<EOF

The local network is running (data and logs in .local-network/, reset at each start):
  sandbox L1 RPC        $L1
  pre-images endpoint   $PREIMAGES_URL   (serves ${PREIMAGES_DIR#"$ROOT"/})
  rollup node RPC       $NODE_URL   (maintenance mode for $ROLLUP, operator $OPERATOR)
  DAL rollup node RPC   $DAL_NODE_URL   (observer of $DAL_ROLLUP, --dal-node $L1)
  logs                  .local-network/logs/{sandbox,preimages,node,dal-node}.log

Commands to try:
  curl -s $NODE_URL/health
  curl -s '$NODE_URL/global/block/head/durable/wasm_2_0_0/value?key=/counter'
  curl -s '$NODE_URL/global/block/head/durable/wasm_2_0_0/value?key=/last_message'
  curl -s $NODE_URL/global/tezos_level
  curl -s $NODE_URL/local/last_published_commitment      # what the node published, and when
  curl -s $L1/chains/main/blocks/head/context/smart_rollups/smart_rollup/$ROLLUP/last_cemented_commitment_hash_with_level
  ${BIN_DIR#"$ROOT"/}/$SEND_CMD
    (the message above was sent already; /last_message is the hex of the last one, /counter counts kernel runs)
  curl -s '$DAL_NODE_URL/global/block/head/durable/wasm_2_0_0/value?key=/dal/$DAL_LEVEL/0/payload'
    (the DAL slot "$DAL_PAYLOAD", published at level $DAL_LEVEL and signalled to the dal-reader kernel)

Press Ctrl-C to stop everything.
EOF

# Run until Ctrl-C, or until one of the processes dies (reported, then everything is stopped).
while :; do
  for pid in "${PIDS[@]}"; do
    alive "$pid"
  done
  sleep 1
done
