#!/bin/bash
# usage: [CROP=SIDE] serve_rss.sh BIN INPUT N [extra serve args...]
# Starts `BIN serve` on a fresh data folder, uploads INPUT N times at once (one user each,
# cropped to SIDE px at 100,200 when CROP is set) and prints the server's peak RSS
# (VmHWM), how many answered ok and the wall time of the burst. Linux only.
BIN=$1; INPUT=$2; N=$3; shift 3
D=$(mktemp -d /tmp/mem-serve.XXXX)
TOKENS=()
for i in $(seq 1 $N); do TOKENS+=($($BIN token create --user U0MEM$i --data $D)); done
$BIN serve --listen 127.0.0.1:0 --rate-limit 0 --data $D "$@" 2>$D/err >/dev/null &
PID=$!
for _ in $(seq 1 100); do grep -q listening $D/err 2>/dev/null && break; sleep 0.1; done
BASE=$(grep -o 'http://127[^ ]*' $D/err | head -1)
START=$(date +%s.%N)
for t in "${TOKENS[@]}"; do
  curl -s -m 300 -H "Authorization: Bearer $t" -F "image=@$INPUT" ${CROP:+-F crop_x=100 -F crop_y=200 -F crop_w=$CROP} $BASE/api/users.setPhoto > $D/reply.$t &
  CPIDS+=($!)
done
wait "${CPIDS[@]}"
END=$(date +%s.%N)
HWM=$(grep VmHWM /proc/$PID/status | awk '{print $2}')
OK=$(grep -l '"ok":true' $D/reply.* | wc -l)
kill $PID; wait $PID 2>/dev/null
echo "$(basename $INPUT) n=$N peak_rss=$((HWM/1024))MiB ok=$OK/$N wall=$(echo "$END - $START" | bc)s $*"
rm -rf $D
