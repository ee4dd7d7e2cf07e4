#!/usr/bin/env python3
"""Streams events to `POST /events` at a fixed rate (batches of 100, 10 per second = 1,000
events/s by default) until killed; prints how many were acknowledged when it stops.
Usage: stream.py HOST:PORT TOKEN [EVENTS_PER_SECOND] [USER_PREFIX]"""
import http.client
import json
import signal
import sys
import time

host, token = sys.argv[1], sys.argv[2]
rate = int(sys.argv[3]) if len(sys.argv) > 3 else 1000
prefix = sys.argv[4] if len(sys.argv) > 4 else "s"
items = ["85123A", "71053", "84406B", "22423", "47566", "84879", "21212", "20725"]
batch, ticks = 100, rate / 100
acked, sent, k = 0, 0, 0


def stop(*_):
    print(f"stream: {acked} events acknowledged of {sent} sent", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
signal.signal(signal.SIGINT, stop)
conn = http.client.HTTPConnection(host, timeout=10)
start = time.monotonic()
while True:
    events = [{"user": f"{prefix}{(k + b) % 20000}", "item": items[(k + b) % len(items)]} for b in range(batch)]
    k += batch
    conn.request("POST", "/events", json.dumps(events),
                 {"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    r = conn.getresponse()
    r.read()
    sent += batch
    if r.status == 200:
        acked += batch
    # Hold the rate: the n-th batch leaves at start + n / ticks.
    delay = start + sent / batch / ticks - time.monotonic()
    if delay > 0:
        time.sleep(delay)
