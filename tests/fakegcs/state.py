"""Everything one fake GCS server instance holds, in one place.

Handlers receive this object; ``reset()`` returns it to the state the server
started in (the --bucket buckets, empty), which is what tests call between
cases.
"""

import threading

from .auth import AuthRules
from .control import Faults, RequestLog, Shaping
from .store import Store
from .uploads import Sessions


class ServerState:
    def __init__(self, buckets=(), verbose=False):
        self.initial_buckets = tuple(buckets)
        self.verbose = verbose
        self.lock = threading.Lock()
        self.store = Store()
        self.sessions = Sessions()
        self.faults = Faults()
        self.log = RequestLog()
        self.shaping = Shaping()
        self.auth = AuthRules()
        self.rewrites = {}
        self.requester_pays = set()  # buckets whose requests must name a billing project
        self.reset()

    def reset(self):
        self.store.reset(self.initial_buckets)
        self.sessions.reset()
        self.faults.clear()
        self.log.clear()
        self.shaping = Shaping()
        self.auth.reset()
        with self.lock:
            self.rewrites = {}
            self.requester_pays = set()
