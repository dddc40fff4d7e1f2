"""Schemathesis hooks for `npm run fuzz` (loaded through SCHEMATHESIS_HOOKS by scripts/fuzz.ts).

They keep the fuzzer's *valid* values valid in the ways a schema cannot express, so that every
check stays on and still means something. A value generated to break the schema is left alone.

- The fuzzing session authenticates with one API key, whose id the fuzzer learns (lists,
  `created_by`). The API refuses to let a key revoke itself (409), but a rotation of it with a
  short grace period would end it, after which every request would be a 401 and the rest of the
  run would test nothing. A rotation of that key gets the longest grace period instead.
  scripts/fuzz.ts finds the key's id (SWITCHYARD_FUZZ_KEY_IDS: the keys listed with its prefix,
  which only in a rare collision is more than one).
- `Idempotency-Key` must be unique per request (the spec says so); the generator reuses short
  values across different bodies, which the API rightly answers with 422. A schema-valid key is
  replaced with a fresh UUID.
- `cursor` must be a `next_cursor` the API returned for that very list; any other string is
  rightly a 400. A schema-valid cursor the API did not return for the list is dropped.
- `If-Match` must be an `ETag` the API returned for that very resource and version; any other
  value is rightly a 412. A schema-valid `If-Match` is dropped (the fuzzer cannot know the ETag).
- `Switchyard-Bookmark` must be one a response carried (the API signs them); any other value is
  rightly a 400 `invalid_bookmark`. A bookmark within the length limit that the API did not send is
  dropped, whether or not it matches the pattern: the coverage phase (4.32.5) sends `0` as a valid
  value of this parameter. One over the limit is left, as generated to break the schema.
- A webhook endpoint's `url` must point at a public host over https (src/lib/webhook-url.ts, which
  test/lib/webhook-url.test.ts holds to every spelling of a private address); a schema-valid string
  almost never does, and is rightly a 400. It is kept, percent-encoded, as the path of a public
  https URL, so that the URL parser and normaliser still see what the fuzzer generated.
- The spec describes the newest API version; a request that names an older one in
  `Switchyard-Version` is rightly answered in that version's shapes (docs/versioning.md), which the
  spec does not describe. A valid older version is replaced with the newest, in the header and in
  the organisation's `default_api_version` (which every later request without the header would
  get). A value generated to break the schema is left, and is rightly a 400.

Two more adapt schemathesis itself (4.32.5, which scripts/fuzz.ts pins) to what it runs against;
see `_refused_by_auth_failure_guard` and `_parse_one_at_a_time`.
"""

import ast
import json
import os
import pathlib
import re
import threading
import urllib.parse
import uuid

import schemathesis
from schemathesis.specs.openapi import checks as openapi_checks

try:
    FUZZ_KEY_IDS = frozenset(os.environ["SWITCHYARD_FUZZ_KEY_IDS"].split(","))
except KeyError:
    raise RuntimeError(
        "SWITCHYARD_FUZZ_KEY_IDS is not set: run schemathesis through `npm run fuzz` (docs/fuzzing.md)"
    ) from None
MAX_GRACE_PERIOD_SECONDS = 7 * 24 * 60 * 60
# The schemas of the two parameters, as openapi/openapi.json declares them.
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,255}$")
CURSOR_MAX_LENGTH = 512
BOOKMARK_MAX_LENGTH = 172
IF_MATCH_MAX_LENGTH = 1024
WEBHOOK_URL_MAX_LENGTH = 2048
# Under .invalid (RFC 6761), which never resolves: the endpoints pass the URL rule as public https
# names do, and every delivery the run causes fails at its DNS lookup, so no request reaches anyone.
PUBLIC_RECEIVER = "https://hooks.switchyard.invalid/fuzz/"

# The dated API versions the spec lists, oldest first; it describes the last.
_VERSION_PARAMETER = json.loads((pathlib.Path(__file__).parent.parent / "openapi" / "openapi.json").read_text())["components"][
    "parameters"
]["ApiVersion"]
API_VERSIONS = _VERSION_PARAMETER["schema"]["enum"]
NEWEST_API_VERSION = API_VERSIONS[-1]

# (list path, cursor) for every `next_cursor` the API returned: a cursor is bound to its list.
# Shared by the request workers' threads; a set's add and lookup are atomic under the GIL.
_issued_cursors = set()
# Every `Switchyard-Bookmark` a response carried: any of them is valid on any request.
_issued_bookmarks = set()


def _refused_by_auth_failure_guard(response):
    """Whether this is the API's brute-force guard refusing a request with a wrong key.

    Past AUTH_FAILURE_LIMIT wrong keys a minute from one IP (60 unless the deployment raises it, as
    staging does not), the API answers them 429 under the `auth-failures` rate-limit policy instead
    of 401: refused all the same. A request with no key is never counted, but a run sends hundreds
    of generated requests with a made-up key a minute (ignored_auth probes with one too), so against
    such a deployment ignored_auth would report the guard's refusals as authentication not enforced.
    Only a 429 under that policy counts as a refusal; any other 429 does not.
    """
    policies = response.headers.get("ratelimit-policy", [])
    return response.status_code == 429 and any(policy.startswith('"auth-failures"') for policy in policies)


_enforces_auth = openapi_checks._enforces_auth


def _enforces_auth_or_guard_refused(response, authenticated):
    return _refused_by_auth_failure_guard(response) or _enforces_auth(response, authenticated)


openapi_checks._enforces_auth = _enforces_auth_or_guard_refused

# CPython 3.11 (Debian 12's) counts the depth of a tree being converted by ast.parse per
# interpreter, not per thread, so two threads parsing at once can fail with "SystemError: AST
# constructor recursion depth mismatch" (python/cpython#106905). Hypothesis parses source code to
# describe the lambdas of its strategies, and `workers = 2` runs two threads: a run then ends with
# a Runtime Error now and then. One parse at a time (reentrant, in case a parse ever parses).
_parse = ast.parse
_parse_lock = threading.RLock()


def _parse_one_at_a_time(*args, **kwargs):
    with _parse_lock:
        return _parse(*args, **kwargs)


ast.parse = _parse_one_at_a_time


@schemathesis.hook
def before_call(context, case, kwargs):
    targets_fuzz_key = bool(case.path_parameters) and case.path_parameters.get("id") in FUZZ_KEY_IDS
    if targets_fuzz_key and case.path.endswith("/rotate") and isinstance(case.body, dict):
        grace = case.body.get("grace_period_seconds")
        if grace is None or (isinstance(grace, int) and not isinstance(grace, bool) and 0 <= grace <= MAX_GRACE_PERIOD_SECONDS):
            case.body["grace_period_seconds"] = MAX_GRACE_PERIOD_SECONDS
    if case.path.startswith("/v1/webhook-endpoints") and isinstance(case.body, dict):
        url = case.body.get("url")
        if isinstance(url, str) and 1 <= len(url) <= WEBHOOK_URL_MAX_LENGTH:
            path = urllib.parse.quote(url.encode("utf-8", "surrogatepass"), safe="")
            # Cut to the limit, then drop an escape the cut split (`%2`), which no URI may hold.
            case.body["url"] = re.sub(r"%[0-9A-Fa-f]?$", "", (PUBLIC_RECEIVER + path)[:WEBHOOK_URL_MAX_LENGTH])
    if case.path == "/v1/organization" and isinstance(case.body, dict) and case.body.get("default_api_version") in API_VERSIONS:
        case.body["default_api_version"] = NEWEST_API_VERSION
    headers = case.headers or {}
    if headers.get("Switchyard-Version") in API_VERSIONS:
        headers["Switchyard-Version"] = NEWEST_API_VERSION
    key = headers.get("Idempotency-Key")
    if isinstance(key, str) and IDEMPOTENCY_KEY.match(key):
        headers["Idempotency-Key"] = str(uuid.uuid4())
    bookmark = headers.get("Switchyard-Bookmark")
    if isinstance(bookmark, str) and len(bookmark) <= BOOKMARK_MAX_LENGTH and bookmark not in _issued_bookmarks:
        del headers["Switchyard-Bookmark"]
    if_match = headers.get("If-Match")
    if isinstance(if_match, str) and len(if_match) <= IF_MATCH_MAX_LENGTH:
        del headers["If-Match"]
    query = case.query or {}
    cursor = query.get("cursor")
    if isinstance(cursor, str) and 1 <= len(cursor) <= CURSOR_MAX_LENGTH and (case.formatted_path, cursor) not in _issued_cursors:
        del query["cursor"]


@schemathesis.hook
def after_call(context, case, response):
    for bookmark in response.headers.get("switchyard-bookmark", []):
        _issued_bookmarks.add(bookmark)
    if response.status_code != 200:
        return
    try:
        body = response.json()
    except ValueError:
        return
    cursor = body.get("next_cursor") if isinstance(body, dict) else None
    if isinstance(cursor, str):
        _issued_cursors.add((case.formatted_path, cursor))
