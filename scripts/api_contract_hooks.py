"""Schemathesis hooks for scripts/api-contract.

`positive_data_acceptance` fails when the server refuses a request that the
document says is valid. Some refusals are rules no schema can state: a
reference to the tenant's own data (a customer, meter, route or reference
code that does not exist there), a rule across fields (a large-industry
customer states its capacity) or relative to now (not in the future). This
check accepts a 422 whose every named field is refused for one of those
reasons, and leaves every other case to schemathesis's own check.
"""

import schemathesis
from schemathesis.specs.openapi.checks import positive_data_acceptance

# Problem codes that name the tenant's data or a rule across fields or time.
BEYOND_SCHEMA_CODES = {
    "unknown_customer",
    "unknown_manager",
    "unknown_user",
    "unknown_supply_point",
    "unknown_route",
    "unknown_meter",
    "meter_not_installed",
    "account_no_taken",
    "period_billed",
    "in_future",
    "voltage_not_for_class",
    "capacity_required",
    "quiet_hours_pair",
    "bands_sum",
    "bands_required",
    "bands_incomplete",
    "documents_incomplete",
    "comment_required",
    "resolution_required",
    "handover_reason_required",
    "cancel_reason_required",
    "reopen_only_if_dissatisfied",
}
# Fields whose allowed codes are the tenant's own reference lists.
TENANT_LIST_FIELDS = {"class_code", "industry_code", "voltage_code", "tariff_code", "route_code", "route", "tags"}
# Fields a work order needs only for some kinds (area_type for a repair…).
CONDITIONAL_FIELDS = {"area_type", "customer_type", "requested_capacity_kva", "customer_id", "supply_point_id", "crew",
                      "documents", "supply_plan", "confirmed_by"}
# Report bodies (readings, interval data) name the rejected line's field; a meter unknown to the tenant.
TENANT_DATA_REPORT_FIELDS = {"meter"}


def _beyond_schema(error: dict) -> bool:
    field, code = str(error.get("field", "")), error.get("code")
    if code is None:
        # A line of an import report: {line, field, reason}.
        return field in TENANT_DATA_REPORT_FIELDS
    return (
        code in BEYOND_SCHEMA_CODES
        or (code == "unknown_code" and field.split("[")[0] in TENANT_LIST_FIELDS)
        or (code == "required" and field in CONDITIONAL_FIELDS)
    )


@schemathesis.check
def positive_data_acceptance_beyond_schema(ctx, response, case):
    meta = case.meta
    if response.status_code == 422 and meta is not None and meta.generation.mode.is_positive:
        try:
            errors = response.json().get("errors") or []
        except Exception:
            errors = []
        if errors and all(_beyond_schema(e) for e in errors):
            return None
    return positive_data_acceptance(ctx, response, case)
