"""The Adaptive Card check itself: a card as rectify builds it passes the
official schema, and what the schema refuses is refused."""

import copy
import unittest

from adaptive_card_check import problems


def message(card):
    return {
        "type": "message",
        "attachments": [
            {
                "contentType": "application/vnd.microsoft.card.adaptive",
                "contentUrl": None,
                "content": card,
            }
        ],
    }


GOOD = {
    "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
    "type": "AdaptiveCard",
    "version": "1.4",
    "body": [
        {"type": "TextBlock", "text": "rectify: changed S3.8", "weight": "Bolder", "size": "Medium", "wrap": True},
        {"type": "FactSet", "facts": [{"title": "Account", "value": "111122223333"}]},
        {"type": "TextBlock", "text": "job j-1", "isSubtle": True, "size": "Small", "wrap": True},
    ],
}


class AdaptiveCardCheck(unittest.TestCase):
    def test_a_card_like_rectifys_passes(self):
        self.assertEqual(problems(message(GOOD)), [])

    def test_what_the_schema_refuses_is_refused(self):
        cases = {
            "unknown weight": lambda c: c["body"][0].update(weight="heavy"),
            "a fact without a value": lambda c: c["body"][1]["facts"][0].pop("value"),
            "a fact value that is not a string": lambda c: c["body"][1]["facts"][0].update(value=7),
            "an unknown member": lambda c: c["body"][0].update(colour="red"),
            "an unknown element": lambda c: c["body"].append({"type": "Marquee", "text": "x"}),
            "a text block without text": lambda c: c["body"][2].pop("text"),
            "no version": lambda c: c.pop("version"),
        }
        for name, spoil in cases.items():
            card = copy.deepcopy(GOOD)
            spoil(card)
            with self.subTest(name):
                self.assertNotEqual(problems(message(card)), [], name)

    def test_the_envelope_is_checked(self):
        self.assertTrue(problems({"type": "card"}))
        self.assertTrue(problems({"type": "message", "attachments": []}))
        wrong = message(GOOD)
        wrong["attachments"][0]["contentType"] = "application/json"
        self.assertTrue(problems(wrong))


if __name__ == "__main__":
    unittest.main()
