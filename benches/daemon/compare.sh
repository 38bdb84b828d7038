#!/usr/bin/env bash
# vigild against keepalived on the same network-namespace topology, in one run:
#   1. CPU per received advert: a BACKUP flooded with valid adverts of a higher-priority
#      master (VRRPv3, VRID 51, priority 200);
#   2. a MASTER flooded with lower-priority adverts (priority 50): CPU per advert and the
#      packets it sends back;
#   3. idle CPU per second and RSS, in MASTER and in BACKUP;
#   3b. junk floods at a BACKUP whose master (the sender) keeps advertising: adverts for
#      a VRID nobody configured, with a broken checksum, with TTL 64; as fast as one
#      sender can (sendmmsg on AF_PACKET) and at a fixed JUNK_RATE; CPU per junk packet,
#      rate reached, kernel drops, and whether the backup stayed BACKUP;
#   4. failover overhead: the master SIGKILLed, from the backup's master-down deadline
#      (last advert of the old master + master-down interval, from a capture on the
#      bridge) to the new master's first gratuitous ARP and first advert (and the VIP
#      appearing in its namespace).
# Each figure over TRIALS trials (median, min, max) and the ratio vigild/keepalived.
# Writes benches/daemon/RESULTS.md (or $OUT) and prints the same table.
#
# Run as root from anywhere:  sudo benches/daemon/compare.sh
# Environment: TRIALS (5), FLOOD_PACKETS (20000), FLOOD_SECONDS (2, whole seconds),
# IDLE_SECONDS (10), JUNK_TRIALS (3), JUNK_SECONDS (4), JUNK_RATE (50000),
# JUNK_KINDS (unknown_vrid,bad_checksum,ttl), PHASES (floor flood junk pair: the parts
# to run; the report shows what ran),
# OUT (benches/daemon/RESULTS.md), KEEP (a directory to copy the logs, captures and raw
# JSON results into), VIGILD (a prebuilt vigild; default: cargo build
# --release -p vigil-linux and target/release/vigild), KEEPALIVED (keepalived).
#
# All traffic stays in namespaces this script creates (names carry its PID); they and
# every process it started are removed on exit. Every wait is bounded.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

if [[ $(id -u) -ne 0 ]]; then
    echo "compare: needs root for network namespaces" >&2
    exit 1
fi

# The command as run, with the settings given in the environment, for the report.
COMMAND="sudo"
for v in TRIALS FLOOD_PACKETS FLOOD_SECONDS IDLE_SECONDS JUNK_TRIALS JUNK_SECONDS JUNK_RATE \
    JUNK_KINDS PHASES; do
    [[ -n ${!v:-} ]] && COMMAND+=" $v=${!v}"
done
COMMAND+=" benches/daemon/compare.sh"
TRIALS=${TRIALS:-5}
FLOOD_PACKETS=${FLOOD_PACKETS:-20000}
FLOOD_SECONDS=${FLOOD_SECONDS:-2}
IDLE_SECONDS=${IDLE_SECONDS:-10}
JUNK_TRIALS=${JUNK_TRIALS:-3}
JUNK_SECONDS=${JUNK_SECONDS:-4}
JUNK_RATE=${JUNK_RATE:-50000}
JUNK_KINDS=${JUNK_KINDS:-unknown_vrid,bad_checksum,ttl}
PHASES=${PHASES:-floor flood junk pair}
phase() { [[ " $PHASES " == *" $1 "* ]]; }
OUT=${OUT:-$HERE/RESULTS.md}
KEEPALIVED=${KEEPALIVED:-keepalived}
[[ -n ${VIGILD:-} ]] || {
    echo "==> building vigild (release)"
    cargo build --release -q -p vigil-linux
    VIGILD=$ROOT/target/release/vigild
}
for tool in "$VIGILD" "$KEEPALIVED" tcpdump python3 ip setsid; do
    command -v "$tool" >/dev/null || {
        echo "compare: $tool not found" >&2
        exit 1
    }
done

START_S=$(date +%s)
P=vb$$
WORK=$(mktemp -d /tmp/vigil-bench.XXXXXX)
RESULTS=$WORK/results.jsonl
: >"$RESULTS"
NETNS=()
PGIDS=() # process groups this script started (daemons, captures, monitors)

cleanup() {
    set +e
    for g in "${PGIDS[@]}"; do kill -KILL -- "-$g" 2>/dev/null; done
    for ns in "${NETNS[@]}"; do ip netns del "$ns" 2>/dev/null; done
    if [[ -n ${KEEP:-} ]]; then
        mkdir -p "$KEEP" && cp -r "$WORK"/. "$KEEP"/ && echo "(logs, captures and raw results kept in $KEEP)"
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP
trap 'exit 141' PIPE

VIP=10.89.0.50
LB1=10.89.0.11
LB2=10.89.0.12
SENDER=10.89.0.2
MDI=3.609375 # backup priority 100, v3, advert_int 1 s: 3 x 1 s + (256-100)/256 s
IMPLS=(vigild keepalived)

log() { echo "==> $*"; }
now_ns() { date +%s%N; }

# ---------------------------------------------------------------- topology
# Per implementation X: namespaces $P-X-br (bridge br0), $P-X-1 (lb1 10.89.0.11),
# $P-X-2 (lb2 10.89.0.12), $P-X-s (sender 10.89.0.2), each on eth0 with a fixed MAC.
# Two identical topologies, "a" and "b"; which implementation runs on which swaps
# between trials (swap_topologies): namespaces built at different moments are not
# equally cheap to send through (measured: 10-20 % apart in idle CPU with the same
# binary), and that must not count for one implementation.
declare -A TOPO=([vigild]=a [keepalived]=b)
ns() { echo "$P-${TOPO[$1]}-$2"; } # ns IMPL NODE
swap_topologies() {
    local v=${TOPO[vigild]}
    TOPO[vigild]=${TOPO[keepalived]}
    TOPO[keepalived]=$v
}
make_topology() { # IMPL: builds the topology TOPO[IMPL]
    local x=${TOPO[$1]} br i=0 h
    br=$(ns "$1" br)
    ip netns add "$br"
    NETNS+=("$br")
    ip -n "$br" link add br0 type bridge mcast_snooping 0
    ip netns exec "$br" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
    ip -n "$br" link set br0 up
    for h in 1 2 s; do
        i=$((i + 1))
        ip netns add "$(ns "$1" $h)"
        NETNS+=("$(ns "$1" $h)")
        ip netns exec "$(ns "$1" $h)" sysctl -qw net.ipv6.conf.all.disable_ipv6=1
        ip link add "$P$x$h" type veth peer name eth0 netns "$(ns "$1" $h)"
        ip link set "$P$x$h" netns "$br"
        ip -n "$br" link set "$P$x$h" master br0 up
        ip -n "$(ns "$1" $h)" link set lo up
        ip -n "$(ns "$1" $h)" link set eth0 address "02:89:00:00:00:0$i"
        ip -n "$(ns "$1" $h)" link set eth0 up
    done
    ip -n "$(ns "$1" 1)" addr add $LB1/24 dev eth0
    ip -n "$(ns "$1" 2)" addr add $LB2/24 dev eth0
    ip -n "$(ns "$1" s)" addr add $SENDER/24 dev eth0
}

has_vip() { ip -n "$1" -4 addr show dev eth0 | grep -q " $VIP/"; } # NS
flush_vip() { ip -n "$1" addr del $VIP/24 dev eth0 2>/dev/null || true; }

# ---------------------------------------------------------------- daemons
write_conf() { # FILE NAME STATE PRIORITY: the same keepalived.conf for both daemons
    cat >"$1" <<EOF
global_defs {
    router_id $2
    vrrp_version 3
}
vrrp_instance VI_1 {
    state $3
    interface eth0
    virtual_router_id 51
    priority $4
    advert_int 1
    virtual_ipaddress {
        $VIP/24
    }
}
EOF
}

# start_daemon IMPL NODE STATE PRIORITY: sets DPGID (the daemon's process group, whose
# leader is the daemon itself) and DPIDS (comma-separated pids whose CPU and RSS count:
# vigild; keepalived's parent and its VRRP child).
start_daemon() {
    local impl=$1 node=$2 name="$1-$2" netns
    netns=$(ns "$impl" "$node")
    write_conf "$WORK/$name.conf" "$name" "$3" "$4"
    rm -f "$WORK/$name.sock" "$WORK/$name.pid" "$WORK/$name.vrrp.pid"
    if [[ $impl == vigild ]]; then
        setsid ip netns exec "$netns" "$VIGILD" -f "$WORK/$name.conf" \
            --control "$WORK/$name.sock" >>"$WORK/$name.log" 2>&1 &
    else
        setsid ip netns exec "$netns" "$KEEPALIVED" -n -l -D -G -P -f "$WORK/$name.conf" \
            -p "$WORK/$name.pid" -r "$WORK/$name.vrrp.pid" >>"$WORK/$name.log" 2>&1 &
    fi
    DPGID=$!
    disown "$DPGID"
    PGIDS+=("$DPGID")
    local ready="$WORK/$name.sock"
    [[ $impl == keepalived ]] && ready="$WORK/$name.vrrp.pid"
    for _ in $(seq 1 100); do
        [[ -s $ready || -S $ready ]] && break
        sleep 0.05
    done
    if ! [[ -s $ready || -S $ready ]]; then
        echo "compare: $name did not start" >&2
        cat "$WORK/$name.log" >&2
        exit 1
    fi
    DPIDS=$DPGID
    if [[ $impl == keepalived ]]; then
        DPIDS="$DPGID,$(cat "$WORK/$name.vrrp.pid")"
    fi
}

forget_group() { # PGID: gone, so that cleanup does not signal a reused id
    local g kept=()
    for g in "${PGIDS[@]}"; do [[ $g == "$1" ]] || kept+=("$g"); done
    PGIDS=("${kept[@]}")
}
stop_group() { # PGID: SIGKILL the group (the daemons are SIGKILLed in the failover anyway)
    kill -KILL -- "-$1" 2>/dev/null || true
    forget_group "$1"
    for _ in $(seq 1 100); do
        kill -0 -- "-$1" 2>/dev/null || return 0
        sleep 0.02
    done
}

wakeups() { # PIDS: voluntary context switches (sleeps) of every thread
    local total=0 p f v
    for p in ${1//,/ }; do
        for f in /proc/"$p"/task/*/status; do
            v=$(awk '/^voluntary_ctxt_switches:/ {print $2}' "$f" 2>/dev/null)
            total=$((total + ${v:-0}))
        done
    done
    echo $total
}
cpu_ns() { # PIDS (comma-separated): CPU time of every thread, from schedstat
    local total=0 p f v
    for p in ${1//,/ }; do
        for f in /proc/"$p"/task/*/schedstat; do
            read -r v _ <"$f" 2>/dev/null || continue
            total=$((total + v))
        done
    done
    echo $total
}
mem_kb() { # PIDS FIELD (VmRSS from status, or Pss from smaps_rollup), summed
    local total=0 p v
    for p in ${1//,/ }; do
        if [[ $2 == VmRSS ]]; then
            v=$(awk '/^VmRSS:/ {print $2}' "/proc/$p/status")
        else
            v=$(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")
        fi
        total=$((total + ${v:-0}))
    done
    echo $total
}

wait_until() { # SECONDS COMMAND...: poll every 20 ms; status 1 on timeout
    local n=$(($(awk "BEGIN {print int($1 * 50)}")))
    shift
    for _ in $(seq 1 "$n"); do
        "$@" && return 0
        sleep 0.02
    done
    return 1
}

vigild_counters() { # NAME: the instance's counters and global drops, one JSON object
    "$VIGILD" status --json --control "$WORK/$1.sock" 2>/dev/null | python3 -c '
import json, sys
s = json.load(sys.stdin)
i = s["instances"][0]
print(json.dumps({"state": i["state"], "counters": i["counters"], "drops": s["drops"]}))' ||
        echo null
}

show_flood() { # LABEL FILE: one readable line per trial
    python3 - "$1" "$2" <<'EOF'
import json, sys
label, path = sys.argv[1:]
for line in open(path):
    r = json.loads(line)
    got = r["sent"] - (r["sock_drops"] or 0)
    if r.get("summary"):
        print(f"    {label} all trials, gaps included ({r['span_s']:.1f} s): {r['sent']} sent, "
              f"{r['cpu_ns'] / r['sent'] / 1e3:.2f} us/advert, {r['sock_drops']} dropped, "
              f"sent back {r['rx_vrrp']} adverts + {r['rx_arp']} ARP")
        continue
    print(f"    {label} #{r['trial']}: {r['sent']} sent in {r['send_s']:.2f} s, "
          f"{r['cpu_ns'] / 1e6:.1f} ms CPU = {r['cpu_ns'] / r['sent'] / 1e3:.2f} us/advert, "
          f"{r['wakeups'] / max(got, 1):.2f} wake-ups/advert, {r['sock_drops']} dropped, "
          f"sent back {r['rx_vrrp']} adverts (max {r['rx_vrrp_max_per_s']} in 1 s) "
          f"+ {r['rx_arp']} ARP, busy {r['tail_s']:.2f} s after")
EOF
}

# ---------------------------------------------------------------- 1 + 2: floods
flood_case() { # IMPL CASE(backup|master)
    local impl=$1 case=$2 dut sender prio state extra=() before after held=true
    dut=$(ns "$impl" 2)
    sender=$(ns "$impl" s)
    flush_vip "$dut"
    if [[ $case == backup ]]; then
        state=BACKUP prio=200
        # The master's adverts start at once: 10 per second, also between trials.
        extra=(--prime 1 --keepalive-rate 10)
        start_daemon "$impl" 2 BACKUP 100
    else
        state=MASTER prio=50
        # keepalived repeats its answers' GARPs garp_lower_prio_delay (5 s) later: keep
        # counting 6 s after the last trial.
        extra=(--settle 6)
        start_daemon "$impl" 2 MASTER 100
        wait_until 10 has_vip "$dut" || {
            echo "compare: $impl did not become MASTER" >&2
            exit 1
        }
        sleep 0.5
    fi
    log "$impl as $state: $TRIALS floods of $FLOOD_PACKETS adverts (priority $prio) in ${FLOOD_SECONDS} s"
    before=$([[ $impl == vigild ]] && vigild_counters "$impl-2" || echo null)
    ip netns exec "$sender" timeout $((TRIALS * (3 * FLOOD_SECONDS + 12) + 30)) \
        python3 "$HERE/flood.py" --src $SENDER --vip $VIP --prio $prio \
        --count "$FLOOD_PACKETS" --seconds "$FLOOD_SECONDS" --trials "$TRIALS" \
        --gap 0.5 --pids "$DPIDS" "${extra[@]}" >"$WORK/flood.out"
    after=$([[ $impl == vigild ]] && vigild_counters "$impl-2" || echo null)
    if [[ $case == backup ]] && has_vip "$dut"; then held=false; fi
    if [[ $case == master ]] && ! has_vip "$dut"; then held=false; fi
    python3 - "$impl" "$case" "$held" "$before" "$after" "$WORK/flood.out" >>"$RESULTS" <<'EOF'
import json, sys
impl, case, held, before, after, path = sys.argv[1:]
for line in open(path):
    r = json.loads(line)
    r.update(kind="flood-total" if r.pop("summary", False) else "flood", impl=impl, case=case)
    print(json.dumps(r))
print(json.dumps({"kind": "flood-check", "impl": impl, "case": case,
                  "state_held": held == "true",
                  "before": json.loads(before), "after": json.loads(after)}))
EOF
    show_flood "$impl $case" "$WORK/flood.out"
    [[ $held == true ]] || echo "    !! $impl left $state during the flood"
    stop_group "$DPGID"
    flush_vip "$dut"
}

# ---------------------------------------------------------------- 3b: junk floods
# lb2 in BACKUP; the sender is its priority-200 master (one advert per advert interval,
# from 10.89.0.2) and floods junk from 10.89.0.66 (junk.py). The daemon's own view
# (vigild status: filtered, kernel_drops, became_master) is read around every trial.
show_junk() { # FILE: one readable line per trial
    python3 - "$1" <<'EOF'
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    if r["kind"] != "junk":
        continue
    sent = max(r["sent"], 1)
    rate = "max" if not r["rate_target"] else f"{r['rate_target']}/s"
    ff = r["rx_vrrp"] or r["log_master"] or r["vip_on_dut"]
    extra = ""
    b, a = r.get("status_before"), r.get("status_after")
    if b and a:
        f0, f1 = b.get("filtered") or {}, a.get("filtered") or {}
        filt = {k: v - f0.get(k, 0) for k, v in f1.items() if v != f0.get(k, 0)}
        d0, d1 = b["instances"][0]["counters"]["drops"], a["instances"][0]["counters"]["drops"]
        user = {k: v - d0.get(k, 0) for k, v in d1.items() if v != d0.get(k, 0)}
        extra = (f", filtered {filt or '{}'}, user-space drops {user or '{}'}, "
                 f"kernel_drops +{a['kernel_drops'] - b['kernel_drops']}")
    print(f"    {r['impl']} {r['junk']} @{rate} #{r['trial']}: {r['sent']} sent in "
          f"{r['send_s']:.2f} s = {r['rate']}/s (arrived {r['arrived']}), "
          f"{(r['cpu_ns'] + r['tail_cpu_ns']) / sent / 1e3:.3f} us/packet, "
          f"{r['wakeups']} wake-ups, raw drops {r['sock_drops']}{extra}"
          + (" !! FALSE FAILOVER" if ff else ""))
EOF
}

junk_case() { # IMPL
    local impl=$1 dut sender status_cmd="" limit_s nk
    dut=$(ns "$impl" 2)
    sender=$(ns "$impl" s)
    flush_vip "$dut"
    start_daemon "$impl" 2 BACKUP 100
    [[ $impl == vigild ]] && status_cmd="$VIGILD status --json --control $WORK/$impl-2.sock"
    nk=$(($(tr -cd , <<<"$JUNK_KINDS" | wc -c) + 1))
    limit_s=$((nk * 2 * JUNK_TRIALS * (JUNK_SECONDS + 8) + 40))
    log "$impl as BACKUP: junk floods ($JUNK_KINDS), $JUNK_TRIALS x ${JUNK_SECONDS} s each, as fast as possible and at $JUNK_RATE/s"
    ip netns exec "$sender" timeout "$limit_s" \
        python3 "$HERE/junk.py" --src $SENDER --junk-src 10.89.0.66 --vip $VIP \
        --kinds "$JUNK_KINDS" --rates "0,$JUNK_RATE" --seconds "$JUNK_SECONDS" \
        --trials "$JUNK_TRIALS" --pids "$DPIDS" --dut-netns "$dut" \
        --status-cmd "$status_cmd" --log "$WORK/$impl-2.log" >"$WORK/junk.out"
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    r.update(kind="junk", impl=sys.argv[2])
    print(json.dumps(r))' "$WORK/junk.out" "$impl" | tee -a "$RESULTS" >"$WORK/junk.jsonl"
    show_junk "$WORK/junk.jsonl"
    stop_group "$DPGID"
    flush_vip "$dut"
}

# The floor: floor.c (a blocking recv() loop) flooded the same way, if a C compiler is here.
flood_floor() {
    local dut sender pid
    dut=$(ns vigild 2)
    sender=$(ns vigild s)
    if ! cc -O2 -o "$WORK/floor" "$HERE/floor.c" 2>"$WORK/floor.cc.log"; then
        echo "    (no C compiler: the floor row is skipped)"
        return 0
    fi
    setsid ip netns exec "$dut" "$WORK/floor" eth0 $((TRIALS * (3 * FLOOD_SECONDS + 4) + 20)) \
        >"$WORK/floor.out" 2>&1 &
    pid=$!
    disown "$pid"
    PGIDS+=("$pid")
    sleep 0.2
    log "floor (floor.c, blocking recv): $TRIALS floods of $FLOOD_PACKETS adverts in ${FLOOD_SECONDS} s"
    ip netns exec "$sender" timeout $((TRIALS * (3 * FLOOD_SECONDS + 12) + 30)) \
        python3 "$HERE/flood.py" --src $SENDER --vip $VIP --prio 200 \
        --count "$FLOOD_PACKETS" --seconds "$FLOOD_SECONDS" --trials "$TRIALS" \
        --gap 0.5 --pids "$pid" --prime 0.2 --keepalive-rate 10 >"$WORK/flood.out"
    python3 -c '
import json, sys
for line in open(sys.argv[1]):
    r = json.loads(line)
    r.update(kind="flood-total" if r.pop("summary", False) else "flood", impl="floor", case="backup")
    print(json.dumps(r))' "$WORK/flood.out" >>"$RESULTS"
    show_flood floor "$WORK/flood.out"
    stop_group "$pid"
}

# ---------------------------------------------------------------- 3 + 4: idle, failover
capture_start() { # IMPL: tcpdump on the bridge; sets CAP_PGID
    local f="$WORK/cap-$1"
    rm -f "$f.pcap" "$f.err"
    setsid ip netns exec "$(ns "$1" br)" tcpdump -i br0 -n -U -Z root --immediate-mode \
        --time-stamp-precision=nano -w "$f.pcap" 'vrrp or arp' 2>"$f.err" &
    CAP_PGID=$!
    disown "$CAP_PGID"
    PGIDS+=("$CAP_PGID")
    wait_until 5 grep -q "listening on" "$f.err" || {
        echo "compare: tcpdump did not start" >&2
        cat "$f.err" >&2
        exit 1
    }
}

failover_trial() { # IMPL TRIAL LB1_PGID LB2_PGID CAP_PGID
    local impl=$1 trial=$2 kill_ns mon_pgid took=true mdi_ms=null
    if [[ $impl == vigild ]]; then # the backup's own master-down interval, as a check
        mdi_ms=$("$VIGILD" status --json --control "$WORK/vigild-2.sock" 2>/dev/null |
            python3 -c 'import json, sys; print(json.load(sys.stdin)["instances"][0]["master_down_interval_ms"])' ||
            echo null)
    fi
    setsid ip -n "$(ns "$impl" 2)" -ts monitor address >"$WORK/mon-$impl" 2>&1 &
    mon_pgid=$!
    disown "$mon_pgid"
    PGIDS+=("$mon_pgid")
    sleep 0.2
    kill_ns=$(now_ns)
    kill -KILL -- "-$3"
    forget_group "$3"
    wait_until 8 has_vip "$(ns "$impl" 2)" || took=false
    sleep 0.5 # the first announcements and adverts of the new master
    kill -INT -- "-$5" 2>/dev/null || true
    wait_until 3 bash -c "! kill -0 -- -$5 2>/dev/null" || kill -KILL -- "-$5" 2>/dev/null || true
    stop_group "$5"
    stop_group "$mon_pgid"
    python3 "$HERE/failover.py" "$WORK/cap-$impl.pcap" --old $LB1 --new $LB2 --vip $VIP \
        --new-mac 02:89:00:00:00:02 --mdi $MDI --kill-ns "$kill_ns" --vip-log "$WORK/mon-$impl" |
        python3 -c '
import json, sys
r = json.loads(sys.stdin.read())
r.update(kind="failover", impl=sys.argv[1], trial=int(sys.argv[2]), took_over=sys.argv[3] == "true",
         backup_mdi_ms=json.loads(sys.argv[4]))
print(json.dumps(r))' "$impl" "$trial" "$took" "$mdi_ms" | tee -a "$RESULTS" | sed "s/^/    $impl failover: /"
    stop_group "$4"
    flush_vip "$(ns "$impl" 1)"
    flush_vip "$(ns "$impl" 2)"
}

pair_trial() { # TRIAL: both pairs up at once, one idle window for all four, then failovers
    local trial=$1 impl
    local -A G1 G2 PIDS1 PIDS2 CAP C0 C1 W0 W1
    for impl in "${IMPLS[@]}"; do
        flush_vip "$(ns "$impl" 1)"
        flush_vip "$(ns "$impl" 2)"
        start_daemon "$impl" 1 MASTER 200
        G1[$impl]=$DPGID PIDS1[$impl]=$DPIDS
        start_daemon "$impl" 2 BACKUP 100
        G2[$impl]=$DPGID PIDS2[$impl]=$DPIDS
        # Half an advert interval apart: two masters sending at the same instant share
        # the kernel's freshly warmed caches, and the second one's send comes out cheaper.
        sleep 0.5
    done
    for impl in "${IMPLS[@]}"; do
        wait_until 10 has_vip "$(ns "$impl" 1)" || {
            echo "compare: $impl lb1 did not become MASTER" >&2
            exit 1
        }
    done
    sleep 1.5 # initial announcements done; the backups have heard their master
    for impl in "${IMPLS[@]}"; do
        if has_vip "$(ns "$impl" 2)"; then
            echo "compare: $impl lb2 holds the VIP too" >&2
            exit 1
        fi
        capture_start "$impl"
        CAP[$impl]=$CAP_PGID
    done
    # What the idle window measures: "impl role" -> pids. The floor (floor.c) hears lb1's
    # adverts: one wake-up per advert, nothing else, the least a backup can cost. One runs
    # in every pair's sender namespace, so that each master's sendmsg wakes the same
    # number of receivers (the delivery and the wake-up are charged to the sender); the
    # vigild pair's is the one measured.
    local -A WHO
    local key floor_pid="" floor_pids=() t0 t1
    for impl in "${IMPLS[@]}"; do
        WHO["$impl master"]=${PIDS1[$impl]}
        WHO["$impl backup"]=${PIDS2[$impl]}
    done
    if [[ -x $WORK/floor ]]; then
        for impl in "${IMPLS[@]}"; do
            setsid ip netns exec "$(ns "$impl" s)" "$WORK/floor" eth0 $((IDLE_SECONDS + 5)) \
                >/dev/null 2>&1 &
            floor_pid=$!
            disown "$floor_pid"
            PGIDS+=("$floor_pid")
            floor_pids+=("$floor_pid")
            [[ $impl == vigild ]] && WHO["floor backup"]=$floor_pid
        done
        sleep 0.1
    fi
    log "trial $trial/$TRIALS: idle ${IDLE_SECONDS} s (lb1 MASTER, lb2 BACKUP, both pairs)"
    t0=$(now_ns)
    for key in "${!WHO[@]}"; do
        W0[$key]=$(wakeups "${WHO[$key]}")
        C0[$key]=$(cpu_ns "${WHO[$key]}")
    done
    sleep "$IDLE_SECONDS"
    t1=$(now_ns)
    for key in "${!WHO[@]}"; do
        C1[$key]=$(cpu_ns "${WHO[$key]}")
        W1[$key]=$(wakeups "${WHO[$key]}")
    done
    for key in "${!WHO[@]}"; do
        printf '{"kind":"idle","impl":"%s","trial":%d,"role":"%s","cpu_ns":%d,"wakeups":%d,"window_ns":%d,"rss_kb":%d,"pss_kb":%d,"pids":"%s"}\n' \
            "${key% *}" "$trial" "${key#* }" $((C1[$key] - C0[$key])) $((W1[$key] - W0[$key])) \
            $((t1 - t0)) "$(mem_kb "${WHO[$key]}" VmRSS)" "$(mem_kb "${WHO[$key]}" Pss)" \
            "${WHO[$key]}" | tee -a "$RESULTS" | sed "s/^/    /"
    done
    for floor_pid in "${floor_pids[@]}"; do stop_group "$floor_pid"; done
    for impl in "${IMPLS[@]}"; do
        failover_trial "$impl" "$trial" "${G1[$impl]}" "${G2[$impl]}" "${CAP[$impl]}"
    done
}

# ---------------------------------------------------------------- run
log "network: per implementation a bridge, lb1 $LB1, lb2 $LB2, sender $SENDER, VIP $VIP"
for impl in "${IMPLS[@]}"; do make_topology "$impl"; done

phase floor && flood_floor
if phase flood; then
    for case in backup master; do
        for impl in "${IMPLS[@]}"; do flood_case "$impl" "$case"; done
    done
fi
if phase junk; then
    for impl in "${IMPLS[@]}"; do junk_case "$impl"; done
fi
if phase pair; then
    # The idle windows use floor.c when it was built (the floor phase builds it).
    for t in $(seq 1 "$TRIALS"); do
        pair_trial "$t"
        swap_topologies
    done
fi

ELAPSED=$(($(date +%s) - START_S))
python3 "$HERE/report.py" "$RESULTS" --out "$OUT" --command "$COMMAND" \
    --elapsed "$ELAPSED" --vigild "$VIGILD" --keepalived "$KEEPALIVED" \
    --trials "$TRIALS" --flood-packets "$FLOOD_PACKETS" --flood-seconds "$FLOOD_SECONDS" \
    --idle-seconds "$IDLE_SECONDS" --junk-trials "$JUNK_TRIALS" --junk-seconds "$JUNK_SECONDS" \
    --junk-rate "$JUNK_RATE"
echo "(written to $OUT; total ${ELAPSED} s)"
