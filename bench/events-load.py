"""Posts calls of 1,000 `order` events to a running wxtag (scripts/bench-events).

Usage: events-load.py BASE_URL TOKEN LEADS CALLS. The leads are oBench000000 …, followed
beforehand; each call spreads its 1,000 events over them, each with a new id and an `at`
a second apart in the past. Prints events/s over the calls and a call's p50 and p99.
"""

import datetime
import json
import sys
import time
import urllib.request

base, token, leads, calls = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
now = datetime.datetime.now(datetime.timezone.utc)
took = []
n = 0
for _ in range(calls):
    events = []
    for i in range(1000):
        n += 1
        events.append({
            "id": f"bench-{n}",
            "openid": f"oBench{i % leads:06d}",
            "name": "order",
            "at": (now - datetime.timedelta(seconds=n)).isoformat(),
            "props": {"amount": 100 + i},
        })
    request = urllib.request.Request(
        base + "/api/events",
        data=json.dumps({"events": events}).encode(),
        method="POST",
        headers={"Authorization": "Bearer " + token, "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    with urllib.request.urlopen(request) as answer:
        report = json.load(answer)
    took.append(time.perf_counter() - started)
    if report["accepted"] != 1000:
        sys.exit(f"error: a call accepted {report['accepted']} of 1,000: {report}")
took.sort()
p99 = took[min(len(took) - 1, int(len(took) * 0.99))]
print(
    f"{calls} calls of 1,000 events: {calls * 1000 / sum(took):,.0f} events/s, "
    f"a call p50 {took[len(took) // 2] * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms"
)
