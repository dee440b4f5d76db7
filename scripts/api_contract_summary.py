"""Sorts the failures of a scripts/api-contract run (its ndjson event report).

Each failure is put in one of these groups, so that a run tells at a glance
whether something new broke or what is left is known work:
  control characters  the request carried a control character (NUL…) and the
                      server failed (5xx) or took it: text must refuse them (400)
  plain-text 400      axum's own rejection of a path or query value, in
                      text/plain instead of application/problem+json
  other               anything else: the document or the server is wrong
Usage: api_contract_summary.py EVENTS.ndjson
"""

import base64
import json
import re
import sys
import urllib.parse
from collections import defaultdict

# Raw, or escaped in a JSON body ("\u0000").
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\\u00([01][0-9a-fA-F]|7[fF])")
GROUPS = {
    "control characters": "text with control characters must be refused with a 400 problem",
    "plain-text 400": "bad path and query values must be refused with an application/problem+json 400",
    "other": "to fix: the document or the server",
}


def _text(container):
    if not container:
        return ""
    if isinstance(container, dict) and "$base64" in container:
        return base64.b64decode(container["$base64"]).decode("utf-8", "replace")
    return str(container)


def _group(check, request, response):
    sent = urllib.parse.unquote(request.get("uri", "")) + _text(request.get("body"))
    status = (response or {}).get("status_code")
    content_type = ",".join((response or {}).get("headers", {}).get("content-type", []))
    failure = check["failure_info"]["failure"]
    if CONTROL.search(sent) and (
        (status or 0) >= 500 or failure.get("code") == "ST201" or check["name"] == "negative_data_rejection"
    ):
        return "control characters"
    if status == 400 and content_type.startswith("text/plain") and check["name"] == "content_type_conformance":
        return "plain-text 400"
    return "other"


def main(path):
    found = defaultdict(list)
    with open(path, encoding="utf-8") as events:
        for line in events:
            event = json.loads(line)
            finished = event.get("ScenarioFinished")
            if not finished:
                continue
            recorder = finished["recorder"]
            for case_id, checks in (recorder.get("checks") or {}).items():
                for check in checks:
                    if check["status"] != "failure":
                        continue
                    interaction = (recorder.get("interactions") or {}).get(case_id) or {}
                    request = interaction.get("request") or {}
                    response = interaction.get("response") or {}
                    failure = check["failure_info"]["failure"]
                    group = _group(check, request, response)
                    found[group].append(
                        f"{failure.get('operation', recorder['label'])}: {failure.get('title')} "
                        f"[{response.get('status_code')}] {request.get('method')} {request.get('uri')}"
                    )
    if not found:
        print("api-contract: no failed checks in the report (see schemathesis's errors above)")
        return 0
    print("\napi-contract: failures by cause")
    for group, explanation in GROUPS.items():
        items = sorted(set(found.get(group, [])))
        if not items:
            continue
        print(f"  {group} ({len(items)}): {explanation}")
        for item in items[:15]:
            print(f"    - {item[:220]}")
        if len(items) > 15:
            print(f"    … and {len(items) - 15} more")
    if "other" not in found:
        print("  Every failure is of a known cause above (no other).")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
