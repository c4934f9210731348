"""Errors the fake GCS server answers with, in both API dialects.

One exception type carries everything needed to render the error the way GCS
does: the JSON API body ``{"error": {"code", "message", "errors": [...]}}``
and the XML API document ``<Error><Code/><Message/><Details/></Error>``.
Handlers raise; the server renders according to which API was called.
"""

import json
from xml.sax.saxutils import escape

PRECONDITION_MESSAGE = "At least one of the pre-conditions you specified did not hold."


class GcsError(Exception):
    """An HTTP error answer.

    status: HTTP status; reason: JSON ``errors[].reason``; message: human
    text; xml_code / xml_message / details: the XML API rendering;
    headers: extra response headers; body: False for answers without a body
    (304, HEAD).
    """

    def __init__(self, status, reason, message, xml_code=None,
                 xml_message=None, details=None, headers=None, body=True,
                 location=None):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message
        self.xml_code = xml_code or _XML_CODES.get(reason, "InvalidArgument")
        self.xml_message = xml_message or message
        self.details = details
        self.headers = list(headers or [])
        self.body = body
        self.location = location

    def json_body(self):
        item = {"message": self.message, "domain": "global", "reason": self.reason}
        if self.location:
            item["locationType"] = "header"
            item["location"] = self.location
        doc = {"error": {"code": self.status, "message": self.message,
                         "errors": [item]}}
        return json.dumps(doc).encode()

    def xml_body(self):
        parts = ["<?xml version='1.0' encoding='UTF-8'?><Error><Code>",
                 escape(self.xml_code), "</Code><Message>",
                 escape(self.xml_message), "</Message>"]
        if self.details:
            parts += ["<Details>", escape(self.details), "</Details>"]
        parts.append("</Error>")
        return "".join(parts).encode()


_XML_CODES = {
    "notFound": "NoSuchKey",
    "conditionNotMet": "PreconditionFailed",
    "requestedRangeNotSatisfiable": "InvalidRange",
    "invalid": "InvalidArgument",
    "required": "InvalidArgument",
    "conflict": "Conflict",
    "backendError": "InternalError",
    "internalError": "InternalError",
    "rateLimitExceeded": "SlowDown",
    "notImplemented": "NotImplemented",
    "forbidden": "AccessDenied",
}


def no_such_object(bucket, name):
    text = "No such object: %s/%s" % (bucket, name)
    return GcsError(404, "notFound", text, xml_code="NoSuchKey",
                    xml_message="The specified key does not exist.",
                    details=text)


def no_such_bucket(bucket):
    return GcsError(404, "notFound", "The specified bucket does not exist.",
                    xml_code="NoSuchBucket", details="No such bucket: %s" % bucket)


def no_such_upload(upload_id):
    return GcsError(404, "notFound", "No such upload: %s" % upload_id)


def precondition_failed(detail=None):
    return GcsError(412, "conditionNotMet", PRECONDITION_MESSAGE,
                    xml_code="PreconditionFailed", details=detail,
                    location="If-Match")


def not_modified():
    return GcsError(304, "notModified", "Not Modified", body=False)


def invalid(message):
    return GcsError(400, "invalid", message)


def required(message):
    return GcsError(400, "required", message)


def user_project_missing():
    return GcsError(400, "required",
                    "Bucket is a requester pays bucket but no user project provided.",
                    xml_code="UserProjectMissing")


def conflict(message):
    return GcsError(409, "conflict", message)


def range_not_satisfiable(size, range_header):
    return GcsError(416, "requestedRangeNotSatisfiable",
                    "Request range not satisfiable",
                    xml_code="InvalidRange",
                    xml_message="The requested range cannot be satisfied.",
                    details=range_header,
                    headers=[("Content-Range", "bytes */%d" % size)])


def not_implemented(what):
    return GcsError(501, "notImplemented", "%s is not implemented by this server." % what)


def injected(status):
    """An error chosen by a test through the fault interface."""
    reasons = {429: ("rateLimitExceeded", "The rate of change requests to the object is too high."),
               500: ("internalError", "Internal error. Please try again."),
               502: ("backendError", "Bad gateway."),
               503: ("backendError", "Service temporarily unavailable."),
               504: ("backendError", "Gateway timeout."),
               408: ("requestTimeout", "Request timeout."),
               401: ("authError", "Invalid Credentials"),
               403: ("forbidden", "Access denied."),
               404: ("notFound", "Not found."),
               412: ("conditionNotMet", PRECONDITION_MESSAGE)}
    reason, message = reasons.get(status, ("backendError", "Injected error %d." % status))
    return GcsError(status, reason, message, body=status != 304)
