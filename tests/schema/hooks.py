"""Schemathesis hooks for Sluice's fuzzing run (tests/schema/run.sh).

`POST /api/v1/model` takes the model file as `application/toml` (or `text/plain`): a TOML
file is text, so it goes on the wire as schemathesis sends text.
"""

import schemathesis

schemathesis.serializer.alias("application/toml", "text/plain")
