"""Sends a lead's journey to Sluice with the official Segment Python SDK, unmodified.

Usage: python3 tests/sdks/python_sdk.py HOST WRITE_KEY [--at-size-limit]
  HOST             Sluice's URL, e.g. http://127.0.0.1:8080 (the SDK posts to HOST/v1/batch)
  WRITE_KEY        a Sluice write key
  --at-size-limit  also send, in the same batch, a `Whitepaper Downloaded` track call padded to
                   exactly the SDK's own 32 KB message limit (as the SDK measures it)

Exit code 0 when every call was delivered and accepted, 1 otherwise. Run by
crates/sluice-server/tests/sdks.rs; install the SDK with
`pip install segment-analytics-python==2.4.0` (see .ci/run).
"""

import json
import sys
import uuid
from datetime import datetime, timezone

try:
    import segment.analytics as analytics
    from segment.analytics.client import Client
    from segment.analytics.consumer import MAX_MSG_SIZE
    from segment.analytics.request import DatetimeSerializer
except ImportError:
    print("segment-analytics-python is not installed", file=sys.stderr)
    sys.exit(3)

USER = "sdk-py"


def largest_track(write_key, event, timestamp, message_id):
    """The properties that make this track call exactly MAX_MSG_SIZE bytes, as the SDK measures
    a message before queueing and before sending it (json.dumps of the message)."""
    probe = Client(write_key, send=False)  # builds the message exactly as sent, sends nothing

    def size(n):
        properties = {"asset": "state-of-data-2026.pdf", "padding": "x" * n}
        _, msg = probe.track(USER, event, properties, timestamp=timestamp, message_id=message_id)
        return len(json.dumps(msg, cls=DatetimeSerializer).encode())

    n = MAX_MSG_SIZE - size(0)
    assert size(n) == MAX_MSG_SIZE, size(n)
    return {"asset": "state-of-data-2026.pdf", "padding": "x" * n}


def main():
    args = sys.argv[1:]
    at_size_limit = "--at-size-limit" in args
    args = [a for a in args if a != "--at-size-limit"]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    host, write_key = args

    errors = []

    def on_error(error, batch):
        errors.append(error)
        print(f"python SDK: delivery failed: {error} ({len(batch)} messages)", file=sys.stderr)

    # The SDK's documented module-level settings.
    analytics.write_key = write_key
    analytics.host = host
    analytics.on_error = on_error
    analytics.gzip = True  # the SDK's option: gzip-encoded bodies (Content-Encoding: gzip)
    analytics.max_retries = 2

    analytics.identify(
        USER,
        {"email": "py@acme.io", "title": "VP Data Platform", "seniority": "vp", "department": "data"},
    )
    analytics.group(USER, "acme-py", {"name": "Acme Py", "industry": "Software", "employees": 900})
    analytics.page(USER, "Docs", "Pricing", {"path": "/pricing", "url": "https://example.com/pricing"})
    analytics.track(USER, "Demo Requested", {"plan": "enterprise"})
    analytics.alias("sdk-py-previous", USER)
    calls = 5
    if at_size_limit:
        timestamp = datetime.now(tz=timezone.utc)
        message_id = str(uuid.uuid4())
        event = "Whitepaper Downloaded"
        properties = largest_track(write_key, event, timestamp, message_id)
        analytics.track(USER, event, properties, timestamp=timestamp, message_id=message_id)
        calls += 1
    analytics.flush()
    analytics.shutdown()

    if errors:
        return 1
    print(f"python SDK: {calls} calls delivered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
