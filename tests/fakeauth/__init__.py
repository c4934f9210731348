"""Stand-ins for Google's credential services in tests: an OAuth token endpoint and a
Compute Engine metadata server (servers.py), RS256 verification written out by hand
(rsa.py), and credential files and keys made with the openssl command (keys.py).

They run as threads of the test process, on 127.0.0.1 only, and register every token they
issue with the fake GCS server so that it accepts that token (and only until it expires).
"""
