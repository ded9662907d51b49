"""The pinned moto's `/moto-api/data.json` (every model instance moto
tracks, as JSON) answers 500 as soon as one instance has an attribute
whose getter raises anything but TypeError, AttributeError or ValueError
(an RDS DB instance does). Tests read SES's sent messages and SNS's
deliveries from it, so one test that creates a database would break them.
`apply()` makes the endpoint skip such attributes, as it already skips
the ones it cannot serialise, and take an optional `?service=NAME` to
answer one service's models only."""

import json
from urllib.parse import parse_qs, urlparse


def apply():
    from moto.core.model_instances import model_data
    from moto.moto_api._internal.responses import MotoAPIResponse

    def data(self, request, full_url, headers):
        wanted = parse_qs(urlparse(full_url).query).get("service")
        results = {}
        for service in sorted(model_data):
            if wanted and service not in wanted:
                continue
            models = model_data[service]
            results[service] = {}
            for name in sorted(models):
                instances = []
                for instance in models[name].instances_tracked:
                    fields = {}
                    for attr in dir(instance):
                        if attr.startswith("_"):
                            continue
                        try:
                            value = getattr(instance, attr)
                            json.dumps(value)
                        except Exception:  # a getter that fails is left out
                            continue
                        fields[attr] = value
                    instances.append(fields)
                results[service][name] = instances
        return 200, {"Content-Type": "application/javascript"}, json.dumps(results)

    MotoAPIResponse.model_data = data
