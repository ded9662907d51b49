"""The AWS Account Management rule the pinned moto does not apply: a caller
may not name its own account in `AccountId` of the alternate contact
operations. The API reference (GetAlternateContact, PutAlternateContact,
DeleteAlternateContact: "The management account can't specify its own
AccountId; it must call the operation in standalone context by not
including the AccountId parameter") states it; moto answers either form.
The error is a ValidationException (one of the operations' documented
errors), so a client that sends its own id fails here as it fails in AWS."""

from moto.account.responses import AccountResponse
from moto.core.exceptions import JsonRESTError

_OPERATIONS = ("get_alternate_contact", "put_alternate_contact", "delete_alternate_contact")


class OwnAccountId(JsonRESTError):
    code = 400

    def __init__(self, operation: str):
        super().__init__(
            "ValidationException",
            f"{operation}: the caller's own account cannot be specified as AccountId; "
            "call the operation without AccountId (standalone context)",
        )


def _guarded(name, original):
    def call(self):
        named = self._get_param("AccountId")
        if named and named == self.current_account:
            raise OwnAccountId("".join(p.capitalize() for p in name.split("_")))
        return original(self)

    return call


def apply():
    for name in _OPERATIONS:
        original = getattr(AccountResponse, name)
        if getattr(original, "_own_account_rule", False):
            continue
        guarded = _guarded(name, original)
        guarded._own_account_rule = True
        setattr(AccountResponse, name, guarded)
