# What tests/load/run and tests/load/soak share (sourced, not run): the release builds, and
# starting and stopping our echo server pinned to core 0. Expects ROOT; sets OUT, LOAD,
# SERVER_PID and SERVER_URL. Every wait is bounded; the server is stopped on exit.
# ALLOCATOR (jemalloc or glibc, set by the scripts' --allocator) picks the server's malloc.

OUT=$ROOT/target/load
LOAD=$ROOT/target/release/load
mkdir -p "$OUT"
# The server and the tool hold a descriptor per connection (about 17,000 for 10,000 sessions).
ulimit -n "$(ulimit -Hn)"

build_tools() { # RUNTIME...: the load tool, and each runtime's echo example
  echo "building the load tool (release)" >&2
  (cd "$ROOT" && cargo build --release --quiet -p engineio-tests --bin load)
  declare -gA ECHO_BIN=()
  for rt in "$@"; do
    echo "building engineio-$rt's echo example (release)" >&2
    (cd "$ROOT" && cargo build --release --quiet -p "engineio-$rt" --example echo \
      --target-dir "target/bench-$rt")
    ECHO_BIN[$rt]=$ROOT/target/bench-$rt/release/examples/echo
  done
}

# The server's allocator. glibc's malloc keeps what a peak took (freed chunks inside its
# arenas are not given back to the kernel), so after 10,000 sessions the RSS stays near the
# peak; jemalloc (the system's libjemalloc2, preloaded, with a background thread returning
# pages unused for a second, and no per-thread cache: with one, 9 MiB more stayed, spread
# over its chunks) gives it back, as a deployment that wants memory back after a burst would
# run it. The library does not choose a global allocator for its users.
SERVER_ENV=()
use_allocator() { # jemalloc|glibc
  case "$1" in
    glibc) SERVER_ENV=() ;;
    jemalloc)
      local lib
      lib=$(ldconfig -p | awk '/libjemalloc\.so\.2 /{print $NF; exit}')
      if [[ -z $lib ]]; then
        echo "jemalloc not found: install it (apt-get install libjemalloc2) or pass --allocator glibc" >&2
        exit 2
      fi
      SERVER_ENV=(LD_PRELOAD="$lib" MALLOC_CONF=background_thread:true,dirty_decay_ms:1000,muzzy_decay_ms:0,tcache:false) ;;
    *) echo "unknown allocator $1 (jemalloc or glibc)" >&2; exit 2 ;;
  esac
}

SERVER_PID="" SERVER_URL=""
cleanup() {
  if [[ -n $SERVER_PID ]]; then stop_server; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

start_server() { # RUNTIME [ECHO ARGS...]: sets SERVER_PID and SERVER_URL
  local rt=$1 log=$OUT/server-$1.log
  shift
  : >"$log"
  env "${SERVER_ENV[@]}" taskset -c 0 "${ECHO_BIN[$rt]}" --addr 127.0.0.1:0 "$@" </dev/null >"$log" 2>&1 &
  SERVER_PID=$!
  local addr=""
  for _ in $(seq 100); do
    addr=$(sed -n 's|^listening on http://||p' "$log" | head -n1)
    [[ -n $addr ]] && break
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [[ -z $addr ]]; then
    echo "the $rt echo server did not start; its log:" >&2
    cat "$log" >&2
    return 1
  fi
  SERVER_URL=http://$addr/engine.io/
}

stop_server() {
  local pid=$SERVER_PID
  SERVER_PID=""
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
