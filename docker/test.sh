#!/usr/bin/env bash
# docker/test.sh — builds the container image of docker/Dockerfile with
# rootful podman and drives the container over HTTP as a user would:
# upload a CSV, train a job, download the weights, check the token, restart
# the container on the same volume and check that nothing was lost.
#
#   make docker-test            (or: bash docker/test.sh)
#   bash docker/test.sh base    only make the local base image
#
# No registry is reachable on these machines, so the base image
# docker.io/library/debian:bookworm-slim is made locally with debootstrap
# (from the Debian mirror of the host's apt sources) when podman lacks it,
# and every build runs with --pull=never. The images stay cached for the next
# run; remove them with `podman rmi traind:test
# docker.io/library/debian:bookworm-slim`, or everything podman has with
# `podman system reset -f`.
#
# Loopback only, bounded in time everywhere; the container and the volume it
# made are removed on exit, also on failure.
#
# Environment: TRAIND_IMAGE (traind:test), DEBIAN_MIRROR (from the apt
# sources), DOCKER_TEST_KEEP_IMAGE=0 to also remove the built image at the end.
set -euo pipefail

cd "$(dirname "$0")/.."

BASE_IMAGE=docker.io/library/debian:bookworm-slim
IMAGE=${TRAIND_IMAGE:-traind:test}
SUITE=bookworm
T_DEBOOTSTRAP=900   # seconds, each bound below
T_BUILD=1800
T_HEALTH=60
T_JOB=120
T_CURL=30

T0=$(date +%s.%N)
TLAST=$T0
say() { printf 'docker-test: %s\n' "$*"; }
die() { printf 'docker-test: FAILED: %s\n' "$*" >&2; exit 1; }
# prints the time since the previous mark and since the start
mark() {
    local now; now=$(date +%s.%N)
    awk -v m="$1" -v a="$TLAST" -v b="$now" -v z="$T0" \
        'BEGIN { printf "docker-test: %-38s %7.1f s   (total %6.1f s)\n", m, b - a, b - z }'
    TLAST=$now
}

# ---------------------------------------------------------------------------
# Tools
need_pkgs=()
for t in podman:podman runc:runc debootstrap:debootstrap curl:curl jq:jq; do
    command -v "${t%%:*}" >/dev/null 2>&1 || need_pkgs+=("${t#*:}")
done
[ -r /usr/share/keyrings/debian-archive-keyring.gpg ] || need_pkgs+=(debian-archive-keyring)
if [ "${#need_pkgs[@]}" -gt 0 ]; then
    if [ "$(id -u)" != 0 ]; then
        die "missing: ${need_pkgs[*]}; install them (apt-get install ${need_pkgs[*]}) or run as root"
    fi
    say "installing ${need_pkgs[*]}"
    export DEBIAN_FRONTEND=noninteractive
    timeout 600 apt-get update -qq || die "apt-get update failed"
    timeout 900 apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null \
        || die "apt-get install ${need_pkgs[*]} failed"
    mark "tools installed"
fi
[ "$(id -u)" = 0 ] || die "needs root: the build and the run use rootful podman"

# crun, podman's default runtime, fails on this kind of machine's hybrid
# cgroups: runc for everything.
PODMAN=(podman --runtime runc)

# ---------------------------------------------------------------------------
# Cleanup of what this run made (by id), on any exit
WORK=$(mktemp -d /var/tmp/traind-docker-test.XXXXXX)
CONTAINERS=()
VOLUME=""
ROOTFS=""
cleanup() {
    local rc=$?
    set +e
    if [ "$rc" != 0 ] && [ "${#CONTAINERS[@]}" -gt 0 ]; then
        for c in "${CONTAINERS[@]}"; do
            podman container exists "$c" || continue
            say "last log lines of container $c:"
            timeout 20 podman logs --tail 40 "$c" 2>&1 | sed 's/^/    | /'
        done
    fi
    for c in "${CONTAINERS[@]}"; do
        timeout 60 "${PODMAN[@]}" rm -f -t 5 "$c" >/dev/null 2>&1 \
            || say "could not remove container $c"
    done
    if [ -n "$VOLUME" ]; then
        timeout 60 podman volume rm -f "$VOLUME" >/dev/null 2>&1 \
            || say "could not remove volume $VOLUME"
    fi
    if [ "${DOCKER_TEST_KEEP_IMAGE:-1}" = 0 ] && [ "$rc" = 0 ]; then
        timeout 60 podman rmi "$IMAGE" >/dev/null 2>&1
    fi
    [ -n "$ROOTFS" ] && rm -rf --one-file-system "$ROOTFS"
    rm -rf "$WORK"
    if [ "$rc" = 0 ]; then
        mark "cleaned up"
    else
        say "cleaned up after the failure (exit $rc)"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# ---------------------------------------------------------------------------
# The local base image

# The Debian mirror of the host's own apt sources (deb822 or one-line form),
# for the suite itself (not -security / -updates).
host_mirror() {
    local f m=""
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        m=$(awk -v suite="$SUITE" '
            BEGIN { RS = ""; FS = "\n" }
            {
                uris = ""; ok = 0; deb = 0; on = 1
                for (i = 1; i <= NF; i++) {
                    line = $i
                    if (line ~ /^[ \t]*#/) continue
                    if (line ~ /^Types:/ && line ~ /[ \t]deb([ \t]|$)/) deb = 1
                    if (line ~ /^URIs:/) { sub(/^URIs:[ \t]*/, "", line); split(line, u, /[ \t]+/); uris = u[1] }
                    if (line ~ /^Suites:/) { n = split(line, s, /[ \t]+/); for (j = 2; j <= n; j++) if (s[j] == suite) ok = 1 }
                    if (line ~ /^Enabled:[ \t]*no/) on = 0
                }
                if (deb && ok && on && uris != "") { print uris; exit }
            }' "$f")
        [ -n "$m" ] && { echo "$m"; return; }
    done
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        m=$(awk -v suite="$SUITE" '
            $1 == "deb" {
                i = 2; if ($i ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
                if ($(i + 1) == suite) { print $i; exit }
            }' "$f")
        [ -n "$m" ] && { echo "$m"; return; }
    done
    echo http://deb.debian.org/debian
}

make_base_image() {
    local mirror=${DEBIAN_MIRROR:-$(host_mirror)}
    ROOTFS="$WORK/rootfs"
    say "base image: debootstrap --variant=minbase $SUITE from $mirror"
    timeout "$T_DEBOOTSTRAP" debootstrap --variant=minbase "$SUITE" "$ROOTFS" "$mirror" \
        >"$WORK/debootstrap.log" 2>&1 \
        || { tail -20 "$WORK/debootstrap.log" >&2; die "debootstrap failed (log above)"; }

    # Trim it like the official slim image: no package lists, no apt caches,
    # no docs, man pages or locales (and dpkg told to skip them from now on).
    rm -rf "$ROOTFS"/var/lib/apt/lists/* "$ROOTFS"/var/cache/apt/*.bin \
           "$ROOTFS"/var/cache/apt/archives/*.deb "$ROOTFS"/var/cache/apt/archives/partial/* \
           "$ROOTFS"/var/cache/debconf/*-old "$ROOTFS"/var/lib/dpkg/*-old \
           "$ROOTFS"/var/log/*.log "$ROOTFS"/var/log/apt/* "$ROOTFS"/tmp/* \
           "$ROOTFS"/etc/resolv.conf "$ROOTFS"/etc/hostname
    find "$ROOTFS"/usr/share/doc -mindepth 1 -not -name copyright -not -type d -delete
    find "$ROOTFS"/usr/share/doc -mindepth 1 -type d -empty -delete
    rm -rf "$ROOTFS"/usr/share/man/* "$ROOTFS"/usr/share/info/* \
           "$ROOTFS"/usr/share/groff/* "$ROOTFS"/usr/share/lintian/* "$ROOTFS"/usr/share/linda/*
    find "$ROOTFS"/usr/share/locale -mindepth 1 -maxdepth 1 -not -name locale.alias -exec rm -rf {} +
    cat >"$ROOTFS"/etc/dpkg/dpkg.cfg.d/docker <<'EOF'
# as in the official slim image
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
    echo force-unsafe-io >"$ROOTFS"/etc/dpkg/dpkg.cfg.d/docker-apt-speedup
    cat >"$ROOTFS"/etc/apt/apt.conf.d/docker-clean <<'EOF'
DPkg::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
APT::Update::Post-Invoke { "rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true"; };
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
EOF
    echo 'Acquire::Languages "none";' >"$ROOTFS"/etc/apt/apt.conf.d/docker-no-languages
    echo 'Acquire::GzipIndexes "true";' >"$ROOTFS"/etc/apt/apt.conf.d/docker-gzip-indexes
    echo 'Apt::AutoRemove::SuggestsImportant "false";' >"$ROOTFS"/etc/apt/apt.conf.d/docker-autoremove-suggests

    # The same apt sources as the host, and the host's settings for reaching
    # them (e.g. a snapshot mirror needs Acquire::Check-Valid-Until "false").
    rm -f "$ROOTFS"/etc/apt/sources.list
    local f
    [ -r /etc/apt/sources.list ] && cp /etc/apt/sources.list "$ROOTFS"/etc/apt/
    for f in /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] && cp "$f" "$ROOTFS"/etc/apt/sources.list.d/
    done
    for f in /etc/apt/apt.conf.d/*; do
        [ -f "$f" ] || continue
        case "$(basename "$f")" in docker-*) continue ;; esac
        if grep -Eq '^[[:space:]]*Acquire::(Check-Valid-Until|Check-Date|https?::Proxy|https?::proxy)' "$f"; then
            cp "$f" "$ROOTFS"/etc/apt/apt.conf.d/
        fi
    done

    timeout 300 tar --numeric-owner -C "$ROOTFS" -c . \
        | timeout 300 podman import -q \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'CMD ["bash"]' \
            - "$BASE_IMAGE" >/dev/null \
        || die "podman import of the base image failed"
    rm -rf --one-file-system "$ROOTFS"
    ROOTFS=""
}

if podman image exists "$BASE_IMAGE"; then
    say "base image $BASE_IMAGE: present"
else
    make_base_image
    mark "base image made (debootstrap)"
fi
[ "${1:-}" = base ] && exit 0

# ---------------------------------------------------------------------------
# Build. --format docker keeps the HEALTHCHECK (the OCI format has none).
say "building $IMAGE"
old_id=$(podman image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null || true)
if ! timeout "$T_BUILD" "${PODMAN[@]}" build --pull=never --isolation=chroot --format docker \
        -t "$IMAGE" -f docker/Dockerfile . >"$WORK/build.log" 2>&1; then
    tail -40 "$WORK/build.log" >&2
    die "podman build failed (last lines above)"
fi
mark "image built"
# the previous build of this tag (now untagged) is only dead weight
new_id=$(podman image inspect --format '{{.Id}}' "$IMAGE")
if [ -n "$old_id" ] && [ "$old_id" != "$new_id" ]; then
    timeout 60 podman rmi "$old_id" >/dev/null 2>&1 || true
fi
say "image size: $(podman image inspect --format '{{.Size}}' "$IMAGE" | awk '{printf "%.1f MB", $1 / 1e6}')"

# ---------------------------------------------------------------------------
# Run
free_port() {
    local p
    for _ in $(seq 1 50); do
        p=$(( 20000 + RANDOM % 40000 ))
        # nothing answers there (bash's /dev/tcp: connection refused)
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then echo "$p"; return; fi
    done
    die "no free port found"
}
PORT=$(free_port)
TOKEN=$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')
URL="http://127.0.0.1:$PORT"
NAME=traind-test-$$-$RANDOM
VOLUME=$NAME
timeout 60 podman volume create "$VOLUME" >/dev/null || { VOLUME=""; die "podman volume create failed"; }

# podman's default rlimits exceed this kind of machine's ceilings ("setrlimit
# ... operation not permitted"): the hard limits of this shell, nproc also
# capped at kernel.pid_max (seen: runc refuses an nproc above it here).
ULIMITS=()
hn=$(ulimit -Hn); hu=$(ulimit -Hu)
pid_max=$(cat /proc/sys/kernel/pid_max 2>/dev/null || echo 32768)
if [ "$hu" = unlimited ] || [ "$hu" -gt "$pid_max" ]; then hu=$pid_max; fi
[ "$hn" != unlimited ] && ULIMITS+=(--ulimit "nofile=$hn:$hn")
[ "$hu" != unlimited ] && ULIMITS+=(--ulimit "nproc=$hu:$hu")

# Without systemd, podman cannot schedule the periodic health checks (and
# logs an error per container); the check itself still runs on demand with
# `podman healthcheck run`, below.
HEALTH=()
[ -S /run/systemd/private ] || HEALTH=(--health-interval=disable)

# podman CMD...: quiet (podman logs an error about the systemd timers of
# the health check on every start and stop here); its errors on failure
pm() {
    timeout 120 "${PODMAN[@]}" "$@" 2>"$WORK/podman.err" \
        || die "podman $1 failed: $(grep -v 'systemd connection' "$WORK/podman.err")"
}

# named, so that cleanup finds one even when `podman run` fails half-way.
# start_container [token-file]: the token from the environment, or from a
# file mounted read-only (TRAIND_TOKEN_FILE).  The port was free when
# free_port looked, but another process may take it before podman binds it
# ("address already in use"): then a new port is picked and the run tried
# again (at most 5 times); any other failure ends the test.
start_container() {
    local name auth try
    if [ -n "${1:-}" ]; then
        auth=(-v "$1:/run/secrets/traind_token:ro" -e TRAIND_TOKEN_FILE=/run/secrets/traind_token)
    else
        auth=(-e TRAIND_TOKEN="$TOKEN")
    fi
    for try in 1 2 3 4 5; do
        name=$NAME-${#CONTAINERS[@]}
        CONTAINERS+=("$name")
        if CID=$(timeout 120 "${PODMAN[@]}" run -d --name "$name" "${ULIMITS[@]}" "${HEALTH[@]}" \
                    -p "127.0.0.1:$PORT:8080" -v "$VOLUME:/data" "${auth[@]}" "$IMAGE" \
                    2>"$WORK/podman.err"); then
            return 0
        fi
        grep -qi 'address already in use' "$WORK/podman.err" \
            || die "podman run failed: $(grep -v 'systemd connection' "$WORK/podman.err")"
        timeout 60 podman rm -f "$name" >/dev/null 2>&1 || true
        say "port $PORT was taken before podman could bind it (try $try of 5): picking another"
        PORT=$(free_port)
        URL="http://127.0.0.1:$PORT"
    done
    die "podman run: no port could be bound in 5 tries"
}

wait_healthy() {
    local deadline=$(( $(date +%s) + T_HEALTH ))
    until curl -fsS -m 2 "$URL/healthz" >/dev/null 2>&1; do
        [ "$(podman inspect --format '{{.State.Running}}' "$CID" 2>/dev/null)" = true ] \
            || die "the container stopped before /healthz answered"
        [ "$(date +%s)" -lt "$deadline" ] || die "/healthz did not answer within $T_HEALTH s"
        sleep 0.3
    done
}

# api METHOD PATH [curl args...]: the body to stdout; fails on a non-2xx status
api() {
    local method=$1 path=$2; shift 2
    local code
    code=$(curl -sS -m "$T_CURL" -o "$WORK/body" -w '%{http_code}' -X "$method" \
                -H "Authorization: Bearer $TOKEN" "$@" "$URL$path") \
        || die "$method $path: curl failed"
    case "$code" in
        2??) cat "$WORK/body" ;;
        *) die "$method $path: HTTP $code: $(head -c 600 "$WORK/body")" ;;
    esac
}

# without a token the daemon refuses 0.0.0.0, says why, and exits
CONTAINERS+=("$NAME-notoken")
set +e
out=$(timeout 60 "${PODMAN[@]}" run --rm --name "$NAME-notoken" "${ULIMITS[@]}" "${HEALTH[@]}" \
          "$IMAGE" 2>&1)
rc=$?
set -e
if [ "$rc" = 0 ] || [ "$rc" = 124 ]; then
    die "without TRAIND_TOKEN the container did not refuse to start (exit $rc)"
fi
grep -qi 'token' <<<"$out" || die "without TRAIND_TOKEN: no word about the token in: $out"
say "without a token the container refuses to start: $(grep -i token <<<"$out" | head -1)"

start_container
say "container ${CID:0:12} on 127.0.0.1:$PORT, volume $VOLUME"
wait_healthy
mark "container up (/healthz answers)"

[ "$(podman image inspect --format '{{if .HealthCheck}}yes{{end}}' "$IMAGE")" = yes ] \
    || die "the image has no HEALTHCHECK"
uid=$(pm exec "$CID" id -u)
[ "$uid" = 10001 ] || die "the daemon runs as uid $uid, expected 10001 (traind)"
if timeout 30 "${PODMAN[@]}" healthcheck run "$CID" >/dev/null 2>&1; then
    say "HEALTHCHECK of the image: healthy"
else
    die "podman healthcheck run: unhealthy (or the image lost its HEALTHCHECK)"
fi

# ---------------------------------------------------------------------------
# A dataset: three Gaussian blobs in 4 dimensions, 100 rows each, text labels
awk 'BEGIN {
    srand(7)
    split("setosa versicolor virginica", name, " ")
    print "f1,f2,f3,f4,species"
    for (i = 0; i < 300; i++) {
        c = i % 3 + 1
        line = ""
        for (j = 1; j <= 4; j++) {
            # Box-Muller: a standard normal deviate
            z = sqrt(-2 * log(1 - rand())) * cos(6.283185307179586 * rand())
            line = line sprintf("%.4f,", 3 * (c - 2) * (j % 2 ? 1 : -1) + 0.6 * z)
        }
        print line name[c]
    }
}' >"$WORK/blobs.csv"

ds=$(api POST "/v1/datasets?name=blobs" -H 'Content-Type: text/csv' --data-binary @"$WORK/blobs.csv")
DS_ID=$(jq -er '.id' <<<"$ds") || die "POST /v1/datasets: no id in $ds"
[ "$(jq -r '.n_samples' <<<"$ds")" = 300 ] || die "dataset: expected 300 samples: $ds"
[ "$(jq -r '.n_classes' <<<"$ds")" = 3 ] || die "dataset: expected 3 classes: $ds"
say "dataset $DS_ID: $(jq -c '{n_samples, x_shape, classes}' <<<"$ds")"

job_body=$(jq -n --argjson ds "$DS_ID" '{
    model: {
        input: [4],
        layers: [{type: "dense", units: 16, activation: "relu"},
                 {type: "dense", units: 3, activation: "softmax"}],
        loss: "cross_entropy",
        training: {optimizer: {type: "adam", lr: 0.01}, batch_size: 32, epochs: 20}
    },
    dataset: $ds,
    training: {epochs: 20}
}')
job=$(api POST /v1/jobs -H 'Content-Type: application/json' --data-binary "$job_body")
JOB_ID=$(jq -er '.id' <<<"$job") || die "POST /v1/jobs: no id in $job"
say "job $JOB_ID: $(jq -r '.state' <<<"$job")"
mark "dataset uploaded, job created"

deadline=$(( $(date +%s) + T_JOB ))
while :; do
    job=$(api GET "/v1/jobs/$JOB_ID")
    state=$(jq -r '.state' <<<"$job")
    case "$state" in
        succeeded) break ;;
        failed|cancelled) die "job $JOB_ID $state: $(jq -c '{stop_reason, error}' <<<"$job")" ;;
    esac
    [ "$(date +%s)" -lt "$deadline" ] || die "job $JOB_ID still $state after $T_JOB s"
    sleep 0.5
done
say "job $JOB_ID succeeded: $(jq -c '{stop_reason, last_metrics: (.last_metrics | {epoch, loss, accuracy})}' <<<"$job")"
mark "job trained"

# the weights: a safetensors file (8-byte little-endian header length, then
# a JSON header that starts with '{')
check_safetensors() {
    local f=$1 size n first
    size=$(stat -c %s "$f")
    [ "$size" -gt 9 ] || die "$f: $size bytes, too short for safetensors"
    n=$(od -An -N8 -tu8 --endian=little "$f" | tr -d ' ')
    first=$(od -An -j8 -N1 -c "$f" | tr -d ' ')
    [ "$first" = "{" ] || die "$f: byte 8 is '$first', expected '{' (not safetensors)"
    if [ "$n" -lt 2 ] || [ $(( n + 8 )) -gt "$size" ]; then
        die "$f: header length $n does not fit the $size-byte file"
    fi
}
api GET "/v1/jobs/$JOB_ID/weights" >"$WORK/weights-1.safetensors"
check_safetensors "$WORK/weights-1.safetensors"
say "weights: $(stat -c %s "$WORK/weights-1.safetensors") bytes, safetensors"

# without the token, and with a wrong one: 401 and a JSON error
for auth in "" "Authorization: Bearer wrong-$TOKEN"; do
    code=$(curl -sS -m "$T_CURL" -o "$WORK/body" -w '%{http_code}' ${auth:+-H "$auth"} \
                "$URL/v1/jobs/$JOB_ID") || die "curl without the token failed"
    [ "$code" = 401 ] || die "GET /v1/jobs/$JOB_ID ${auth:+with a wrong token}${auth:-without a token}: HTTP $code, expected 401"
    jq -e '.error.code == "unauthorized"' "$WORK/body" >/dev/null \
        || die "the 401 body is not the JSON error: $(head -c 300 "$WORK/body")"
done
say "no token or a wrong one: 401 unauthorized"
mark "weights and auth checked"

# ---------------------------------------------------------------------------
# Restart: stop, start again on the same volume, same answers
pm stop -t 20 "$CID" >/dev/null
pm start "$CID" >/dev/null
wait_healthy
mark "container restarted"
job=$(api GET "/v1/jobs/$JOB_ID")
[ "$(jq -r '.state' <<<"$job")" = succeeded ] \
    || die "after the restart, job $JOB_ID is $(jq -r '.state' <<<"$job"), expected succeeded"
api GET "/v1/jobs/$JOB_ID/weights" >"$WORK/weights-2.safetensors"
cmp -s "$WORK/weights-1.safetensors" "$WORK/weights-2.safetensors" \
    || die "after the restart, the weights differ from those downloaded before"
say "after the restart: job $JOB_ID succeeded, weights byte-identical"

# and in a new container on the same volume, the token from a file
pm rm -f -t 20 "$CID" >/dev/null
printf '%s\n' "$TOKEN" >"$WORK/token"
chmod 0644 "$WORK/token"
start_container "$WORK/token"
wait_healthy
api GET "/v1/jobs/$JOB_ID/weights" >"$WORK/weights-3.safetensors"
cmp -s "$WORK/weights-1.safetensors" "$WORK/weights-3.safetensors" \
    || die "in a new container on the volume, the weights differ"
say "a new container on the same volume (token from TRAIND_TOKEN_FILE): weights byte-identical"
mark "persistence checked"

say "disk: $(du -sh /var/lib/containers/storage 2>/dev/null | cut -f1) in /var/lib/containers/storage"
say "PASSED"
