"""The test proxy's Auto Scaling lifecycle hooks, as AWS documents them (aws_proxy.py calls it).

moto 5.2.5 reports every hook's GlobalTimeout as 172800 s; AWS sets it to the smaller of 48 hours and
100 x HeartbeatTimeout (API LifecycleHook), so a 30 s heartbeat gives a 3000 s global timeout.
"""

import re

MAX_GLOBAL_TIMEOUT = 172800


def global_timeouts(data):
    """Rewrites a DescribeLifecycleHooks answer: each hook's GlobalTimeout as AWS sets it."""

    def member(m):
        block = m.group(0)
        heartbeat = re.search(r"<HeartbeatTimeout>(\d+)</HeartbeatTimeout>", block)
        if not heartbeat:
            return block
        global_timeout = min(MAX_GLOBAL_TIMEOUT, 100 * int(heartbeat.group(1)))
        return re.sub(r"<GlobalTimeout>\d+</GlobalTimeout>", f"<GlobalTimeout>{global_timeout}</GlobalTimeout>", block)

    return re.sub(r"<member>.*?</member>", member, data.decode(), flags=re.S).encode()
