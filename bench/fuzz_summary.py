"""Summarizes `make fuzz` logs (libFuzzer with -print_final_stats=1) into bench/out/fuzz.json:
executions, seconds, corpus size and crashes per target.

    python3 bench/fuzz_summary.py event_parse=/tmp/fuzz-event.log config_parse=/tmp/fuzz-config.log
"""

import json
import os
import re
import sys
import time

out = {"date": time.strftime("%Y-%m-%d")}
for arg in sys.argv[1:]:
    name, path = arg.split("=", 1)
    text = open(path, errors="replace").read()
    execs = re.search(r"stat::number_of_executed_units:\s*(\d+)", text)
    secs = re.search(r"Done \d+ runs in (\d+) second", text)
    corp = re.findall(r"corp: (\d+)/", text)
    crashes = len(re.findall(r"==\d+== ERROR|deadly signal|panicked at", text))
    out[name] = {
        "execs": int(execs.group(1)) if execs else 0,
        "seconds": int(secs.group(1)) if secs else 0,
        "corpus": int(corp[-1]) if corp else 0,
        "crashes": crashes,
        "finished": bool(re.search(r"EXIT 0", text)),
    }
os.makedirs(os.path.join(os.path.dirname(__file__), "out"), exist_ok=True)
json.dump(out, open(os.path.join(os.path.dirname(__file__), "out", "fuzz.json"), "w"), indent=2)
print(json.dumps(out, indent=2))
