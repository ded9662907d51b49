"""Checks Microsoft Teams incoming-webhook messages against the official
Adaptive Card JSON schema, version 1.4 (the version rectify's cards
declare).

``adaptive-card-1.4.0.schema.json`` beside this file is the schema the
Adaptive Cards project publishes at
http://adaptivecards.io/schemas/1.4.0/adaptive-card.json, as kept in its
repository (microsoft/AdaptiveCards, ``schemas/1.4.0/adaptive-card.json``,
MIT licence), unchanged. Every card in a message is validated against it
(JSON Schema draft 6, with ``jsonschema``); the envelope around the card is
what Teams' incoming webhooks document: a ``message`` whose attachments
have the Adaptive Card content type. The schema leaves ``version`` optional
because cards inside ``Action.ShowCard`` may omit it; its description
requires it on the top-level card, so that is checked too.

Usage: ``python adaptive_card_check.py FILE...`` (each a JSON message);
prints every problem and exits 1 when there is one.
"""

import json
import pathlib
import sys

from jsonschema import Draft6Validator

SCHEMA_FILE = pathlib.Path(__file__).with_name("adaptive-card-1.4.0.schema.json")
SCHEMA = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
Draft6Validator.check_schema(SCHEMA)
VALIDATOR = Draft6Validator(SCHEMA)
CARD_TYPE = "application/vnd.microsoft.card.adaptive"


def leaves(error):
    """The errors under ``error``: an ``anyOf`` (every element and action
    type is one) fails as a whole, its branches' errors are its context."""
    if not error.context:
        yield error
        return
    for sub in error.context:
        yield from leaves(sub)


def readable(errors):
    """The errors a person needs: a branch that fails only because the
    ``type`` names another element is not one, nor an error at a place
    where a deeper one says what is wrong."""
    found = [
        e
        for top in errors
        for e in leaves(top)
        if not (e.validator == "enum" and list(e.absolute_path)[-1:] == ["type"])
    ]
    paths = [tuple(e.absolute_path) for e in found]
    kept = {}
    for e, path in zip(found, paths):
        if any(len(p) > len(path) and p[: len(path)] == path for p in paths):
            continue
        kept.setdefault((path, e.message), e)
    return sorted(kept.values(), key=lambda e: [str(p) for p in e.absolute_path])


def problems(message):
    """What is wrong with one incoming-webhook message, as readable lines."""
    if not isinstance(message, dict) or message.get("type") != "message":
        return ["the payload is not a `message`"]
    attachments = message.get("attachments")
    if not isinstance(attachments, list) or not attachments:
        return ["the message has no attachments"]
    found = []
    for i, attachment in enumerate(attachments):
        at = f"attachments[{i}]"
        if not isinstance(attachment, dict) or attachment.get("contentType") != CARD_TYPE:
            found.append(f"{at}.contentType is not {CARD_TYPE}")
            continue
        card = attachment.get("content")
        if not isinstance(card, dict):
            found.append(f"{at}.content is not an object")
            continue
        if not isinstance(card.get("version"), str):
            found.append(f"{at}.content has no `version` (required on a top-level card)")
        for error in readable(VALIDATOR.iter_errors(card)):
            path = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
            found.append(f"{at}.content{path}: {error.message}")
    return found


def main(paths):
    bad = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            message = json.load(f)
        for line in problems(message):
            print(f"{path}: {line}")
            bad += 1
    print(f"{len(paths)} message(s) checked against {SCHEMA['id']} 1.4.0, {bad} problem(s)")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
