"""gigmarket's errors as HTTP answers, once for every view."""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, JsonResponse
from gigmarket import GigmarketError, NotFound, ValidationError


# --8<-- [start:errors]
class GigmarketErrors:
    """404 for what does not exist, 422 for bad input, 409 for a refused action."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, GigmarketError):
            return None  # Django's own handling: a 500, logged
        if isinstance(exception, NotFound):
            return JsonResponse({"error": exception.code, "message": str(exception)}, status=404)
        if isinstance(exception, ValidationError):
            errors = [{"field": field, "message": text} for field, text in exception.errors]
            return JsonResponse({"error": exception.code, "errors": errors}, status=422)
        return JsonResponse({"error": exception.code, "message": str(exception)}, status=409)


# --8<-- [end:errors]
