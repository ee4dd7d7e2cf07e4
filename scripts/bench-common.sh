# Shared helpers of the scale benchmarks (scripts/bench-scale.sh, scripts/bench-knn-scale.sh),
# sourced by them. Each timed step runs under `/usr/bin/time -v` into $dir/logs/NAME.log, with
# the load average just before it, and is appended to the raw file $raw.
load() { cut -d' ' -f1-3 /proc/loadavg; }
# `/usr/bin/time -v` figures of a log: wall seconds, peak RSS in MiB.
wall() { awk -F': ' '/Elapsed \(wall clock\)/ { n = split($2, p, ":"); s = 0;
  for (i = 1; i <= n; i++) s = s * 60 + p[i]; printf "%.2f", s }' "$1"; }
rss() { awk -F': ' '/Maximum resident set size/ { printf "%.0f", $2 / 1024 }' "$1"; }
key() { awk -v k="$1" '$1 == k { print $2 }' "$2"; }
# Runs a command under /usr/bin/time -v into logs/NAME.log and appends it to the raw file.
timed() { # name command...
  local name=$1 log=$dir/logs/$1.log
  shift
  echo "load average before: $(load)" > "$log"
  echo "\$ $*" >> "$log"
  /usr/bin/time -v "$@" >> "$log" 2>&1 || { echo "FAILED: $* (see $log)" >&2; tail -20 "$log" >&2; exit 1; }
  { echo "### $name"; echo; echo '```'
    grep -v -E '^\s+(Average|Exit status|Page size|Signals|Swaps|Socket|File system|Major|Minor|Voluntary|Involuntary|Percent|System time|User time|Command being)' "$log"
    echo '```'; echo; } >> "$raw"
}
