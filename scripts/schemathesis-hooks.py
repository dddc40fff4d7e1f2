"""Schemathesis hooks for `npm run fuzz` (loaded through SCHEMATHESIS_HOOKS by scripts/fuzz.ts).

They keep the fuzzer's *valid* values valid in the ways a schema cannot express, so that every
check stays on and still means something. A value generated to break the schema is left alone.

- The fuzzing session authenticates with one API key, whose id the fuzzer learns (lists,
  `created_by`). The API refuses to let a key revoke itself (409), but a rotation of it with a
  short grace period would end it, after which every request would be a 401 and the rest of the
  run would test nothing. A rotation of that key gets the longest grace period instead.
- `Idempotency-Key` must be unique per request (the spec says so); the generator reuses short
  values across different bodies, which the API rightly answers with 422. A schema-valid key is
  replaced with a fresh UUID.
- `cursor` must be a `next_cursor` the API returned for this organisation; any other string is
  rightly a 400. A schema-valid cursor the API did not issue is dropped.
- `If-Match` must be an `ETag` the API returned for that very resource and version; any other
  value is rightly a 412. A schema-valid `If-Match` is dropped (the fuzzer cannot know the ETag).
"""

import base64
import json
import os
import re
import uuid

import schemathesis

FUZZ_ORG_ID = os.environ["SWITCHYARD_FUZZ_ORG_ID"]
FUZZ_KEY_ID = os.environ["SWITCHYARD_FUZZ_KEY_ID"]
MAX_GRACE_PERIOD_SECONDS = 7 * 24 * 60 * 60
# The schemas of the two parameters, as openapi/openapi.json declares them.
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
CURSOR_MAX_LENGTH = 512
IF_MATCH_MAX_LENGTH = 1024


def _issued_cursor(value):
    try:
        padded = value + "=" * (-len(value) % 4)
        decoded = json.loads(base64.urlsafe_b64decode(padded.encode("ascii")))
    except (ValueError, UnicodeError):
        return False
    return isinstance(decoded, dict) and decoded.get("v") == 1 and decoded.get("o") == FUZZ_ORG_ID


@schemathesis.hook
def before_call(context, case, kwargs):
    targets_fuzz_key = bool(case.path_parameters) and case.path_parameters.get("id") == FUZZ_KEY_ID
    if targets_fuzz_key and case.path.endswith("/rotate") and isinstance(case.body, dict):
        grace = case.body.get("grace_period_seconds")
        if grace is None or (isinstance(grace, int) and not isinstance(grace, bool) and 0 <= grace <= MAX_GRACE_PERIOD_SECONDS):
            case.body["grace_period_seconds"] = MAX_GRACE_PERIOD_SECONDS
    headers = case.headers or {}
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and IDEMPOTENCY_KEY.match(key):
        headers["Idempotency-Key"] = str(uuid.uuid4())
    if_match = headers.get("If-Match")
    if isinstance(if_match, str) and len(if_match) <= IF_MATCH_MAX_LENGTH:
        del headers["If-Match"]
    query = case.query or {}
    cursor = query.get("cursor")
    if isinstance(cursor, str) and 1 <= len(cursor) <= CURSOR_MAX_LENGTH and not _issued_cursor(cursor):
        del query["cursor"]
