"""Sends a lead's journey to Sluice with RudderStack's Python SDK, unmodified.

Usage: python3 tests/sdks/rudderstack_sdk.py HOST WRITE_KEY
  HOST       Sluice's URL, e.g. http://127.0.0.1:8080 (the SDK posts to HOST/v1/batch)
  WRITE_KEY  a Sluice write key

RudderStack's SDK sends what Segment's does in its own way: an identify call's traits only in
`context.traits`, `"anonymousId": null` beside a user id, `integrations` and `channel` on every
message, gzip-encoded batches by default. The script checks that the SDK still builds its
identify calls that way before sending them, so the test cannot pass for a reason it does not
name.

Exit code 0 when every call was delivered and accepted, 1 otherwise. Run by
crates/sluice-server/tests/sdks.rs; install the SDK with
`pip install rudder-sdk-python==2.1.9` (see .ci/run).
"""

import sys

try:
    import rudderstack.analytics as rudder_analytics
    from rudderstack.analytics.client import Client
except ImportError:
    print("rudder-sdk-python is not installed", file=sys.stderr)
    sys.exit(3)

USER = "sdk-rudder"
TRAITS = {"email": "rudder@acme.io", "title": "VP Data Platform", "seniority": "vp", "department": "data"}


def identify_is_sent_the_rudderstack_way(write_key):
    """The identify call as the SDK builds it (`send=False` builds it and sends nothing)."""
    _, msg = Client(write_key, send=False).identify(USER, dict(TRAITS))
    shape = "traits" not in msg and msg["context"]["traits"] == TRAITS and msg["anonymousId"] is None
    if not shape:
        print(f"rudderstack SDK: identify is no longer built as expected: {msg}", file=sys.stderr)
    return shape


def main():
    args = sys.argv[1:]
    if len(args) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    host, write_key = args
    if not identify_is_sent_the_rudderstack_way(write_key):
        return 1

    errors = []

    def on_error(error, batch):
        errors.append(error)
        print(f"rudderstack SDK: delivery failed: {error} ({len(batch)} messages)", file=sys.stderr)

    # The SDK's documented module-level settings; gzip is on by default.
    rudder_analytics.write_key = write_key
    rudder_analytics.dataPlaneUrl = host
    rudder_analytics.on_error = on_error
    rudder_analytics.max_retries = 2

    rudder_analytics.identify(USER, dict(TRAITS))
    rudder_analytics.group(USER, "acme-rudder", {"name": "Acme Rudder", "industry": "Software", "employees": 900})
    rudder_analytics.page(USER, "Docs", "Pricing", {"path": "/pricing", "url": "https://example.com/pricing"})
    rudder_analytics.screen(USER, "Mobile", "Pricing", {"plan": "enterprise"})
    rudder_analytics.track(USER, "Demo Requested", {"plan": "enterprise"})
    rudder_analytics.alias("sdk-rudder-previous", USER)
    calls = 6
    rudder_analytics.flush()
    rudder_analytics.shutdown()

    if errors:
        return 1
    print(f"rudderstack SDK: {calls} calls delivered")
    return 0


if __name__ == "__main__":
    sys.exit(main())
