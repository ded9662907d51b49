"""Presigned (query-string signed) requests in the pinned moto server.

AWS takes a request signed in its query string (`X-Amz-Credential=
KEY/DATE/REGION/SERVICE/aws4_request`, as a presigned URL carries it) like
one signed in its Authorization header. moto's server routes an unsigned
request by its body or path only (a GET with no body goes to S3), and
takes the caller's access key from the Authorization header only. This
module makes it read both from `X-Amz-Credential` too, so a presigned STS
`GetCallerIdentity` URL (what an EKS token carries) reaches STS and answers
with the identity of the key that signed it. Signatures are still not
checked (moto checks none)."""

from urllib.parse import parse_qs


def _credential(query_string):
    values = parse_qs(query_string or "").get("X-Amz-Credential")
    if not values:
        return None
    parts = values[0].split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        return None
    return parts  # key, date, region, service, aws4_request


def apply():
    from moto.core.responses import BaseResponse
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    infer = DomainDispatcherApplication.infer_service_region_host

    def infer_service_region_host(self, environ, path):
        if not environ.get("HTTP_AUTHORIZATION"):
            cred = _credential(environ.get("QUERY_STRING"))
            if cred:
                return f"{cred[3].lower()}.{cred[2]}.amazonaws.com"
        return infer(self, environ, path)

    DomainDispatcherApplication.infer_service_region_host = infer_service_region_host

    get_access_key = BaseResponse.get_access_key

    def get_access_key_from_query(self):
        if "Authorization" not in self.headers:
            values = self.querystring.get("X-Amz-Credential")
            if values:
                return values[0].split("/")[0]
        return get_access_key(self)

    BaseResponse.get_access_key = get_access_key_from_query
