"""Starts moto's server on a free 127.0.0.1 port, prints the port, and stops when stdin closes.

Used by the Rust integration tests, `make demo` and the benchmarks: whoever starts it keeps its
stdin open; when that process ends (even by a crash), the pipe closes and this server stops, so no
test leaves a server behind.
"""

import logging
import sys

from moto.server import ThreadedMotoServer
from werkzeug.serving import WSGIRequestHandler

# werkzeug writes an answer's headers and body apart: with Nagle's algorithm the body waits for the
# client's delayed ACK (40 ms on Linux), a stall AWS's endpoints do not add.
WSGIRequestHandler.disable_nagle_algorithm = True

# One line per request on stderr would drown the demo's output.
logging.getLogger("werkzeug").setLevel(logging.ERROR)

port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
server.start()
print(server.get_host_and_port()[1], flush=True)
try:
    sys.stdin.read()
except KeyboardInterrupt:
    pass
server.stop()
