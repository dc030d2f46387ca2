#!/usr/bin/env bash
# A single-node Ceph RADOS Gateway on loopback for the lake tests: a real
# S3 server that enforces create-if-absent (If-None-Match: *), which a Delta
# table with several writers needs (../shared/docs/s3-test-server.md).
#
#   tests/s3/rgw.sh start DIR   starts mon, osd (memstore) and radosgw in DIR,
#                               creates a user and the bucket `eqpipe`, and
#                               writes DIR/env (the variables a test reads)
#   tests/s3/rgw.sh stop DIR    stops the daemons by their pid files
#
# Debian packages: radosgw ceph-mon ceph-osd. Test-only keys, loopback only.
set -euo pipefail

cmd=${1:?start|stop}
R=$(realpath -m "${2:?a scratch folder}")

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

stop() {
  for p in "$R"/run/*.pid; do
    [ -f "$p" ] || continue
    kill "$(cat "$p" 2>/dev/null)" 2>/dev/null || true
  done
  for _ in $(seq 50); do
    alive=0
    for p in "$R"/run/*.pid; do
      [ -f "$p" ] && kill -0 "$(cat "$p" 2>/dev/null)" 2>/dev/null && alive=1
    done
    [ $alive = 0 ] && break
    sleep 0.1
  done
  for p in "$R"/run/*.pid; do
    [ -f "$p" ] && kill -9 "$(cat "$p" 2>/dev/null)" 2>/dev/null || true
  done
  return 0
}

if [ "$cmd" = stop ]; then stop; exit 0; fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

rm -rf "$R" && mkdir -p "$R"/{run,log,mon,osd0,rgw}
mon_port=${EQPIPE_RGW_MON_PORT:-6789}
port=$(free_port)
fsid=$(python3 -c 'import uuid; print(uuid.uuid4())')
conf="$R/ceph.conf"
cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = 127.0.0.1:$mon_port
public network = 127.0.0.0/8
auth cluster required = none
auth service required = none
auth client required = none
osd pool default size = 1
osd pool default min size = 1
mon allow pool size one = true
osd crush chooseleaf type = 0
run dir = $R/run
log file = $R/log/\$name.log
admin socket = $R/run/\$name.asok
pid file = $R/run/\$name.pid
ms bind ipv4 = true
ms bind ipv6 = false
mon data avail warn = 1
mon data avail crit = 0
osd objectstore = memstore
memstore device bytes = 1073741824
osd data = $R/osd\$id
osd max object name len = 460
osd max object namespace len = 64
mgr initial modules =
[mon.a]
mon data = $R/mon
host = localhost
mon addr = 127.0.0.1:$mon_port
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $R/rgw
rgw dns name = localhost
CONF

trap 'echo "rgw.sh: start failed; logs in $R/log" >&2; stop' ERR
monmaptool --create --add a "127.0.0.1:$mon_port" --fsid "$fsid" "$R/monmap" >/dev/null
ceph-mon -c "$conf" --mkfs -i a --monmap "$R/monmap" >/dev/null 2>&1
ceph-mon -c "$conf" -i a
ceph -c "$conf" osd create >/dev/null
ceph-osd -c "$conf" -i 0 --mkfs >/dev/null 2>&1
ceph -c "$conf" osd crush add-bucket localhost host >/dev/null 2>&1
ceph -c "$conf" osd crush move localhost root=default >/dev/null 2>&1
ceph -c "$conf" osd crush add osd.0 1.0 host=localhost >/dev/null 2>&1
ceph-osd -c "$conf" -i 0 2>/dev/null
radosgw -c "$conf" -n client.rgw.a
for _ in $(seq 300); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.2
done
key=EQPIPETESTACCESSKEY
secret=eqpipe-test-secret-not-a-real-one
radosgw-admin -c "$conf" -n client.rgw.a user create --uid=eqpipe --display-name=eqpipe \
  --access-key="$key" --secret="$secret" >/dev/null 2>&1
# The bucket, with one signed PUT (curl's SigV4; RGW wants the payload's hash
# signed, here the empty body's).
empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
for _ in $(seq 50); do
  code=$(curl -s -o /dev/null -w '%{http_code}' -X PUT -H "x-amz-content-sha256: $empty" \
    --aws-sigv4 "aws:amz:us-east-1:s3" \
    --user "$key:$secret" "http://127.0.0.1:$port/eqpipe") || code=000
  [ "$code" = 200 ] || [ "$code" = 409 ] && break
  sleep 0.2
done
[ "$code" = 200 ] || [ "$code" = 409 ] || { echo "rgw.sh: cannot create the bucket (HTTP $code)" >&2; false; }
cat > "$R/env" <<ENV
EQPIPE_TEST_S3_ENDPOINT=http://127.0.0.1:$port
EQPIPE_TEST_S3_BUCKET=eqpipe
EQPIPE_TEST_S3_ACCESS_KEY_ID=$key
EQPIPE_TEST_S3_SECRET_ACCESS_KEY=$secret
ENV
trap - ERR
echo "rgw.sh: Ceph RGW on http://127.0.0.1:$port (bucket eqpipe), variables in $R/env"
