"""Every EventBridge error code declared in errors.py is one botocore's events model knows."""

from __future__ import annotations

import botocore.session

from opentrail import errors

EVENTS_ERRORS = [errors.InvalidEventPattern, errors.EventsNotFound, errors.EventsAlreadyExists,
                 errors.EventsLimitExceeded, errors.EventsValidation]


def test_codes_are_in_the_events_model() -> None:
    model = botocore.session.get_session().get_service_model("events")
    known = {shape.name for name in model.operation_names
             for shape in model.operation_model(name).error_shapes} | {"ValidationException"}
    for cls in EVENTS_ERRORS:
        assert cls.code in known, cls
        assert cls.__name__ in errors.__all__
