"""Schemathesis hooks for scripts/api-contract.

`positive_data_acceptance` fails when the server refuses a request that the
document says is valid. Some refusals are rules no schema can state: a
reference to the tenant's own data (a customer, meter, route or reference
code that does not exist there), a rule across fields (a large-industry
customer states its capacity) or relative to now (not in the future). This
check accepts a 422 whose every named field is refused for one of those
reasons, and leaves every other case to schemathesis's own check.
"""

import re
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
    # A day in a window around today (a visit: from 2000 to two years ahead).
    "time_too_early",
    "date_too_late",
    # A visible character is one of Unicode's letters, numbers, punctuation or
    # symbols; a JSON Schema pattern (no \\p{...} classes in every dialect) cannot say so.
    "not_visible",
    "voltage_not_for_class",
    "capacity_required",
    "quiet_hours_pair",
    "coordinates_in_pairs",
    "bands_sum",
    "bands_required",
    "bands_incomplete",
    "documents_incomplete",
    "comment_required",
    "resolution_required",
    "handover_reason_required",
    "cancel_reason_required",
    "reopen_only_if_dissatisfied",
    # A points redemption names an item of the tenant's catalogue.
    "unknown_points_item",
    # A contract ends after it starts; its number is unique in the company.
    "contract_ends_before_start",
    "contract_no_taken",
    # An outage starts in the future, ends after its start, lasts at most a week and names
    # at least one route, transformer or area; a cancelled one cannot change.
    "outage_start_past",
    "outage_end_before_start",
    "outage_too_long",
    "outage_nothing_selected",
    "outage_cancelled",
    # Entries are counted and measured after trimming, blanks and repeats dropped.
    "outage_area_too_short",
    "outage_item_too_long",
    "outage_too_many",
    # A personalised bill's channel needs the customer's address on it.
    "notice_channel_no_address",
    # A demand response window ends after it starts and its day is at most 60 days past; it
    # invites the tenant's own active customers, routes and segments, sends to someone, and an
    # acceptance states the kW committed.
    "dr_window_order",
    "dr_day_too_early",
    "dr_unknown_account",
    "dr_inactive_account",
    "dr_unknown_segment",
    "dr_nobody_invited",
    "dr_committed_required",
    "dr_status",
    # A temperature's time is given once per request.
    "weather_repeated",
    # Supply points and meters: codes and serials are unique in the company, a meter is
    # installed in one place at a time, and an exchange comes after the old meter's
    # installation and last reading, with a final reading not below it, and another meter.
    "point_code_taken",
    "serial_taken",
    "meter_installed",
    "meter_removed_later",
    "exchange_not_after_install",
    "exchange_before_last_reading",
    "below_last_reading",
    "same_meter",
    # Change of use: the tenant's archive decides whether a point, meter or holder is free, a
    # capacity goes the asked way, a point is in the state the change needs, a closing can be
    # billed and settled, and whether debts must be settled before a transfer; a new holder is
    # named by id or name; a multiplier is above zero; the documents a kind needs are all there.
    "new_holder_required",
    "meter_serial_in_use",
    "point_code_in_use",
    "meter_in_use",
    "capacity_not_increased",
    "capacity_not_reduced",
    "capacity_unknown",
    "point_not_in_service",
    "point_not_suspended",
    "point_retired",
    "transfer_arrears_unpaid",
    "no_premise",
    "final_reading_needs_one_meter",
    "transfer_premise_suspended",
    "transfer_meter_changed_this_month",
    "final_period_billed",
    "final_no_previous_reading",
    "reading_below_previous",
    "final_bill_failed",
    "closing_arrears_unpaid",
    "documents_incomplete",
    "multiplier_format",
    # A payment beyond what the customer owes needs allow_credit: the tenant's bills decide.
    "overpayment_unconfirmed",
}
# Fields whose allowed codes are the tenant's own reference lists.
TENANT_LIST_FIELDS = {"class_code", "industry_code", "voltage_code", "tariff_code", "route_code", "route", "tags"}
# Fields a work order needs only for some kinds (area_type and address for a repair…).
CONDITIONAL_FIELDS = {"area_type", "address", "customer_type", "requested_capacity_kva", "customer_id",
                      "supply_point_id", "crew", "documents", "supply_plan", "confirmed_by", "latitude", "longitude",
                      # A personalised bill that is not off needs its day and channel.
                      "bill_day", "bill_channel",
                      # Change of use: the fields each kind asks for.
                      "tariff_code", "point_voltage_code", "meter_serial", "new_name", "final_reading"}
# Import reports (readings, interval data) name a rejected line's field with a translated reason, no
# code. In a line that fits the document's pattern or schema only these can be wrong: a meter unknown
# to the tenant, a reading date in the future, bands that are incomplete or do not add up to the total.
# Interval times must also lie in a window around now (three years back to a day ahead).
REPORT_FIELDS_BEYOND_SCHEMA = {"meter", "read_on", "peak", "total", "ts"}
# A customer archive import (the same kind of report): codes of the tenant's reference lists, a
# class's voltage or capacity, and two lines of one account number that disagree.
REPORT_FIELDS_BEYOND_SCHEMA |= {"class_code", "industry_code", "voltage_code", "tariff_code", "capacity_kva", "account_no"}


_NAMES: set | None = None


def _document_names(case) -> set:
    """Every property name the document gives any object."""
    global _NAMES
    if _NAMES is None:
        names: set = set()

        def walk(node):
            if isinstance(node, dict):
                if isinstance(node.get("properties"), dict):
                    names.update(node["properties"])
                for value in node.values():
                    walk(value)
            elif isinstance(node, list):
                for value in node:
                    walk(value)

        walk(case.operation.schema.raw_schema)
        _NAMES = names
    return _NAMES


def _beyond_schema(error: dict, case) -> bool:
    field, code = str(error.get("field", "")), error.get("code")
    if code is None:
        return field in REPORT_FIELDS_BEYOND_SCHEMA
    return (
        code in BEYOND_SCHEMA_CODES
        or (code in ("unknown_code", "retired_code") and field.split("[")[0] in TENANT_LIST_FIELDS)
        or (code == "required" and field in CONDITIONAL_FIELDS)
        # A keyset cursor is opaque: only the `next` the server handed out is valid
        # (a visit list's is a day and an id; the VIP list's must fit its sort column).
        or (code == "malformed" and field == "after")
        # A temperature's time fits the document's pattern but must also be a real
        # calendar time (and an offset needs the seconds, as RFC 3339 says).
        or (code == "datetime_format" and field.startswith(("observations[", "line[")) and field.endswith("].ts"))
        # A work order's state must be one of its kind's workflow.
        or (code == "unknown_code" and field == "state" and "kind" in (case.query or {}))
        # The text rule covers every JSON string, those of fields the document does not name
        # too (schemathesis adds such fields to bodies that allow them).
        or (code == "control_character" and re.split(r"[\[.]", field)[0] not in _document_names(case))
    )


@schemathesis.check
def positive_data_acceptance_beyond_schema(ctx, response, case):
    meta = case.meta
    if meta is not None and meta.generation.mode.is_positive:
        # A redemption the customer's points or the item's stock cannot cover is refused
        # for the tenant's data, not the request (409, documented).
        if response.status_code == 409 and case.path.endswith("/points/redemptions"):
            return None
        # A cash day belongs to a staff member's own login (an API key has none), is closed
        # once and signed off once: refusals for the day's state, not the request (409, documented).
        if response.status_code == 409 and case.path.startswith("/api/v1/cash-days/"):
            return None
        # Stateful links fill a path id from a response field; a null one (a contact without a
        # customer) arrives as "None", which the document does not call valid.
        if any(value is None or value == "None" for value in (case.path_parameters or {}).values()):
            return None
        if response.status_code == 422:
            try:
                errors = response.json().get("errors") or []
            except Exception:
                errors = []
            if errors and all(_beyond_schema(e, case) for e in errors):
                return None
    return positive_data_acceptance(ctx, response, case)
