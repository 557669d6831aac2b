#!/usr/bin/env bash
# `npm run cluster`: three stomp-relay nodes (node-1..3 on 8081-8083) on Redis and RabbitMQ, and
# nginx as a round-robin balancer on 8080 with deploy/nginx.conf (the file compose.yaml uses).
# `npm run cluster -- --ha`: the same on a RabbitMQ cluster of three members and Redis with
# Sentinel, started for it on their own ports and data directories (scripts/ha-engines.ts).
# Ctrl-C (or SIGTERM) drains the nodes and stops everything this script started.
#
#   REDIS_URL   default redis://127.0.0.1:6379
#   AMQP_URL    default amqp://guest:guest@127.0.0.1:5672
#   KEY_PREFIX, LOG_LEVEL, NODE_TTL_MS, … are passed on to the nodes (README "Configuration").
#   LB_PORT     the balancer's port, default 8080
#   CLUSTER_KEEP_LOGS=1 keeps the logs directory after the cluster stops.
set -euo pipefail
cd "$(dirname "$0")/.."

ha=0
for arg in "$@"; do
  case "$arg" in
    --ha) ha=1 ;;
    *) echo "cluster: unknown argument $arg (only --ha)" >&2; exit 2 ;;
  esac
done

if ((ha)); then
  # The high-availability layout: engines of its own, started by scripts/ha-engines.ts.
  ha_dir="$(mktemp -d "${TMPDIR:-/tmp}/stomp-relay-ha.XXXXXX")"
  npx tsx scripts/ha-engines.ts "$ha_dir/env" &
  ha_pid=$!
  until [[ -s "$ha_dir/env" ]]; do
    if ! kill -0 "$ha_pid" 2>/dev/null; then echo "cluster: the HA engines did not start" >&2; exit 1; fi
    sleep 0.5
  done
  set -a
  # shellcheck disable=SC1091
  . "$ha_dir/env"
  set +a
  unset REDIS_URL
else
  export REDIS_URL="${REDIS_URL:-redis://127.0.0.1:6379}"
fi
export AMQP_URL="${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672}"
LB_PORT="${LB_PORT:-8080}"
NODE_PORTS=(8081 8082 8083)

if ! command -v nginx >/dev/null 2>&1; then
  echo "cluster: nginx is not installed; it is the balancer. Install it (Debian/Ubuntu):" >&2
  echo "  sudo apt-get install nginx" >&2
  exit 1
fi
if ! command -v curl >/dev/null 2>&1; then
  echo "cluster: curl is needed to wait for the nodes: sudo apt-get install curl" >&2
  exit 1
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$LB_PORT" "${NODE_PORTS[@]}"; do
  if port_busy "$port"; then
    echo "cluster: port $port is already in use (another cluster, or npm start?); stop that first" >&2
    exit 1
  fi
done

# Host and port of a redis:// or amqp:// URL (credentials and path dropped).
url_host_port() {
  local rest="${1#*://}"
  rest="${rest##*@}"
  rest="${rest%%/*}"
  rest="${rest%%\?*}"
  if [[ "$rest" == *:* ]]; then echo "${rest%:*} ${rest##*:}"; else echo "$rest $2"; fi
}
if ((ha)); then
  redis_host="sentinels"; redis_port="${REDIS_SENTINELS}"
else
  read -r redis_host redis_port <<<"$(url_host_port "$REDIS_URL" 6379)"
fi
read -r amqp_host amqp_port <<<"$(url_host_port "${AMQP_URL%%,*}" 5672)"
if ! (exec 3<>"/dev/tcp/$redis_host/$redis_port") 2>/dev/null; then
  echo "cluster: warning: Redis is not reachable at $redis_host:$redis_port; the nodes will retry." >&2
  echo "  start it: redis-server --daemonize yes --bind 127.0.0.1 --save \"\" --appendonly no" >&2
fi
if ! (exec 3<>"/dev/tcp/$amqp_host/$amqp_port") 2>/dev/null; then
  echo "cluster: warning: RabbitMQ is not reachable at $amqp_host:$amqp_port; the nodes will retry." >&2
  echo "  start it: rabbitmq-server -detached" >&2
fi

echo "cluster: building (npm run build)"
npm run --silent build

run_dir="$(mktemp -d "${TMPDIR:-/tmp}/stomp-relay-cluster.XXXXXX")"
chmod 755 "$run_dir"   # nginx workers may run as another user
pids=()
stopping=0

stop_all() {
  local status=$?
  trap - INT TERM EXIT
  if ((stopping)); then return; fi
  stopping=1
  echo
  echo "cluster: stopping (nodes drain, then exit)"
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  # The nodes' drain is bounded by DRAIN_TIMEOUT_MS (10 s by default); give them a little more.
  local deadline=$((SECONDS + 15))
  for pid in "${pids[@]}"; do
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      echo "cluster: pid $pid did not stop in time; killing it" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
  done
  if ((ha)); then
    kill -TERM "$ha_pid" 2>/dev/null || true
    wait "$ha_pid" 2>/dev/null || true
    rm -rf "$ha_dir"
  fi
  if [[ "${CLUSTER_KEEP_LOGS:-}" == 1 ]]; then
    echo "cluster: logs kept in $run_dir"
  else
    rm -rf "$run_dir"
  fi
  echo "cluster: stopped"
  exit "$status"
}
trap stop_all EXIT
# Ctrl-C and SIGTERM are the normal way to stop: a clean exit.
trap 'exit 0' INT TERM

tail_log() {
  echo "---- last lines of $1 ----" >&2
  tail -n 20 "$1" >&2 || true
}

for i in 1 2 3; do
  port="${NODE_PORTS[$((i - 1))]}"
  # The demo's chat and editor resume after a reconnect when their streams keep history.
  NODE_ID="node-$i" PORT="$port" HOST=127.0.0.1 HISTORY_DESTINATIONS="${HISTORY_DESTINATIONS-/user/*/queue/chat,/topic/docs/*/yjs}" \
    node dist/server/main.js >"$run_dir/node-$i.log" 2>&1 &
  pids+=("$!")
done

# The balancer: deploy/nginx.conf with the compose service names replaced by the local ports,
# the listen port set, and temp paths in the run directory (nginx may not write its defaults).
temp_paths="client_body_temp_path $run_dir/nginx-body; proxy_temp_path $run_dir/nginx-proxy; fastcgi_temp_path $run_dir/nginx-fastcgi; uwsgi_temp_path $run_dir/nginx-uwsgi; scgi_temp_path $run_dir/nginx-scgi;"
sed -E \
  -e "s/server node-([0-9]+):8080/server 127.0.0.1:808\1/" \
  -e "s/listen 8080;/listen $LB_PORT;/" \
  -e "s|^http \{|http {\n    $temp_paths|" \
  deploy/nginx.conf >"$run_dir/nginx.conf"
if ! nginx -t -q -p "$run_dir" -c "$run_dir/nginx.conf" -e "$run_dir/nginx.log" -g "pid $run_dir/nginx.pid;"; then
  tail_log "$run_dir/nginx.log"
  exit 1
fi
nginx -p "$run_dir" -c "$run_dir/nginx.conf" -e "$run_dir/nginx.log" -g "daemon off; pid $run_dir/nginx.pid;" >>"$run_dir/nginx.log" 2>&1 &
pids+=("$!")

echo "cluster: waiting for the nodes to be ready (Redis and RabbitMQ usable)"
for i in 1 2 3; do
  port="${NODE_PORTS[$((i - 1))]}"
  pid="${pids[$((i - 1))]}"
  deadline=$((SECONDS + 60))
  until curl -fs -o /dev/null "http://127.0.0.1:$port/readyz"; do
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "cluster: node-$i exited" >&2
      tail_log "$run_dir/node-$i.log"
      exit 1
    fi
    if ((SECONDS >= deadline)); then
      echo "cluster: node-$i is not ready after 60 s (is Redis at $redis_host:$redis_port and RabbitMQ at $amqp_host:$amqp_port up?)" >&2
      tail_log "$run_dir/node-$i.log"
      exit 1
    fi
    sleep 0.3
  done
done
deadline=$((SECONDS + 10))
until curl -fs -o /dev/null "http://127.0.0.1:$LB_PORT/healthz"; do
  if ((SECONDS >= deadline)) || ! kill -0 "${pids[3]}" 2>/dev/null; then
    echo "cluster: nginx does not answer on $LB_PORT" >&2
    tail_log "$run_dir/nginx.log"
    exit 1
  fi
  sleep 0.2
done

cat <<EOF

stomp-relay cluster is up (Redis $redis_host:$redis_port, RabbitMQ ${AMQP_URL}, KEY_PREFIX ${KEY_PREFIX:-stomp:})
  demo      http://localhost:$LB_PORT/
  STOMP     ws://localhost:$LB_PORT/ws            (round-robin over the nodes)
  API       http://localhost:$LB_PORT/api/...
  nodes     node-1 http://127.0.0.1:${NODE_PORTS[0]}   node-2 http://127.0.0.1:${NODE_PORTS[1]}   node-3 http://127.0.0.1:${NODE_PORTS[2]}
            (each with /healthz, /readyz and /metrics of its own)
  logs      $run_dir/{node-1,node-2,node-3,nginx}.log
Ctrl-C stops the cluster.
EOF

# Wait until a signal arrives or one of the processes exits (then stop the others).
set +e
wait -n
code=$?
set -e
if ((!stopping)); then
  echo "cluster: a process exited (status $code); stopping the others" >&2
  for i in 1 2 3; do kill -0 "${pids[$((i - 1))]}" 2>/dev/null || tail_log "$run_dir/node-$i.log"; done
  kill -0 "${pids[3]}" 2>/dev/null || tail_log "$run_dir/nginx.log"
  exit 1
fi
