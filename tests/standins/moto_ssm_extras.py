"""SSM service-setting operations rectify calls that moto 5.2.5 lacks
(`GetServiceSetting`, `UpdateServiceSetting`, `ResetServiceSetting`), added
to moto's own SSM response class (`apply()`), so that both moto servers of
the tests (`moto_server.py`, `moto_iam_server.py`) answer them, with moto's
IAM enforcement applied as to any SSM call.

A stand-in, with AWS's documented behaviour (the SSM API reference and
botocore's model of SSM) for the one setting rectify uses,
`/ssm/documents/console/public-sharing-permission`:

- Kept per account and region (on moto's SSM backend of that account and
  region, so `/moto-api/reset` clears it).
- Default value `Enable`, status `Default`, no LastModifiedDate or
  LastModifiedUser ("populated only if the setting value was
  overwritten").
- `UpdateServiceSetting` takes `Enable` or `Disable` only (else
  ValidationException); then status `Customized`, LastModifiedDate now,
  LastModifiedUser the caller's ARN.
- `ResetServiceSetting` returns it to the default and answers the setting.
- The setting id is the path or the setting's ARN
  (`arn:aws:ssm:REGION:ACCOUNT:servicesetting/ssm/...`); any other id
  answers `ServiceSettingNotFound`.
- Each request is checked against the operation's input shape in
  botocore's model (required members, lengths, unknown members):
  ValidationException.

Not modelled: the other settings AWS has (they answer
ServiceSettingNotFound here), `PendingUpdate`, `TooManyUpdates`.
"""

from datetime import datetime, timezone
import json

import botocore.session
from botocore.validate import ParamValidator
from moto.core.responses import ActionResult
from moto.ssm.exceptions import SSMException, ValidationException
from moto.ssm.responses import SimpleSystemManagerResponse
from moto.sts.models import sts_backends
from moto.utilities.utils import get_partition

PUBLIC_SHARING = "/ssm/documents/console/public-sharing-permission"

# Setting id -> (default value, the values UpdateServiceSetting takes).
SETTINGS = {PUBLIC_SHARING: ("Enable", ("Enable", "Disable"))}

_model = None


def _operation(name):
    global _model
    if _model is None:
        _model = botocore.session.get_session().get_service_model("ssm")
    return _model.operation_model(name)


def setting_not_found(setting_id):
    # moto's serialiser finds the error's shape by the exception's module:
    # an exception of moto's SSM, with the code of botocore's model.
    return SSMException(
        "ServiceSettingNotFound",
        "The specified service setting wasn't found: %s" % setting_id,
    )


def setting_id_of(value):
    """The setting's path from its id or ARN (`...:servicesetting/ssm/...`)."""
    if value.startswith("arn:") and ":servicesetting/" in value:
        return "/" + value.split(":servicesetting/", 1)[1]
    return value


def _request(self, operation):
    """The request's members, checked against botocore's input shape."""
    try:
        params = json.loads(self.body or "{}")
    except ValueError:
        raise ValidationException("the request body is not JSON")
    report = ParamValidator().validate(params, _operation(operation).input_shape)
    if report.has_errors():
        raise ValidationException(report.generate_report())
    setting = setting_id_of(params["SettingId"])
    if setting not in SETTINGS:
        raise setting_not_found(params["SettingId"])
    return setting, params


def _settings(self):
    """This account's and region's customised settings: id -> state."""
    backend = self.ssm_backend
    if not hasattr(backend, "standin_service_settings"):
        backend.standin_service_settings = {}
    return backend.standin_service_settings


def _answer(self, setting):
    default, _ = SETTINGS[setting]
    state = _settings(self).get(setting)
    out = {
        "SettingId": setting,
        "SettingValue": state["value"] if state else default,
        "ARN": "arn:%s:ssm:%s:%s:servicesetting%s"
        % (get_partition(self.region), self.region, self.current_account, setting),
        "Status": "Customized" if state else "Default",
    }
    if state:
        out["LastModifiedDate"] = state["date"]
        out["LastModifiedUser"] = state["user"]
    return out


def _caller_arn(self):
    backend = sts_backends[self.current_account][get_partition(self.region)]
    return backend.get_caller_identity(self.get_access_key(), self.region)[1]


def _get_service_setting(self):
    setting, _ = _request(self, "GetServiceSetting")
    return ActionResult({"ServiceSetting": _answer(self, setting)})


def _update_service_setting(self):
    setting, params = _request(self, "UpdateServiceSetting")
    _, allowed = SETTINGS[setting]
    value = params["SettingValue"]
    if value not in allowed:
        raise ValidationException(
            "%s is not a valid value for %s: use %s" % (value, setting, " or ".join(allowed))
        )
    _settings(self)[setting] = {
        "value": value,
        "date": datetime.now(timezone.utc),
        "user": _caller_arn(self),
    }
    return ActionResult({})


def _reset_service_setting(self):
    setting, _ = _request(self, "ResetServiceSetting")
    _settings(self).pop(setting, None)
    return ActionResult({"ServiceSetting": _answer(self, setting)})


def apply():
    SimpleSystemManagerResponse.get_service_setting = _get_service_setting
    SimpleSystemManagerResponse.update_service_setting = _update_service_setting
    SimpleSystemManagerResponse.reset_service_setting = _reset_service_setting
