"""A fake Google Cloud Storage server for gcsmount's tests and benchmarks.

It speaks the parts of the JSON and XML APIs that gcsmount and rclone use,
with GCS semantics (generations, preconditions, listing, resumable uploads),
plus a /_fake/ control interface for fault injection, network shaping and a
request log.  ``harness.FakeGCS`` starts one as a subprocess for tests.
"""
