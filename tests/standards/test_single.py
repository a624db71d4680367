"""Single-row checks (standards/single.py): the conformer's statement on one row, reused across calls, threads and
checking times."""
import datetime as dt
from concurrent.futures import ThreadPoolExecutor

import pytest
from pydantic import ValidationError

from safecity.standards.catalogue import load_catalogue
from safecity.standards.models import entity_model
from safecity.standards.single import check_value, entity_rows

CATALOGUE = load_catalogue("qinhuangdao")
STATUS = CATALOGUE.entities["device_status"]
REPORTED_AT = STATUS.element("reported_at")
NOW = dt.datetime(2026, 7, 2, tzinfo=dt.timezone.utc)


def test_the_checking_time_is_a_parameter_not_frozen_into_the_cached_statement():
    value = "2026-07-03 00:00:00"
    assert check_value(CATALOGUE, REPORTED_AT, value, NOW).code == "E_FUTURE_TIME"
    assert check_value(CATALOGUE, REPORTED_AT, value, NOW + dt.timedelta(days=2)) is None
    # Without a time, the time of the call: a value from 2026 lies in the past.
    assert check_value(CATALOGUE, REPORTED_AT, "2026-07-01T00:00:00Z") is None


def test_a_value_gets_its_reason_with_bilingual_message():
    reason = check_value(CATALOGUE, STATUS.element("cmd_type"), "Reboot")
    assert (reason.code, reason.field, reason.value) == ("E_CODE", "cmd_type", "Reboot")
    assert "：" in reason.message_zh and ":" in reason.message_en
    assert check_value(CATALOGUE, STATUS.element("cmd_type"), "Keepalive") is None


def test_threads_each_judge_with_their_own_connection():
    # A timestamp with a checking time is never answered from memory: every call runs the statement.
    values = ["2026-07-01 08:00:00", "2026-07-03 00:00:00", "2026-07-01 25:00:00", "昨天", "", "1900-01-01"] * 20
    alone = [check_value(CATALOGUE, REPORTED_AT, v, NOW) for v in values]
    with ThreadPoolExecutor(max_workers=4) as pool:
        together = list(pool.map(lambda v: check_value(CATALOGUE, REPORTED_AT, v, NOW), values))
    assert together == alone
    assert [r.code if r else None for r in alone[:6]] == [None, "E_FUTURE_TIME", "E_RANGE", "E_TYPE", "E_REQUIRED",
                                                          "E_RANGE"]


def test_a_row_comes_back_typed_with_its_derived_parts():
    row = {"device_id": "13030200001320000001", "cmd_type": "Keepalive", "status": "OK",
           "reported_at": "2026-07-01 08:00:00"}
    checked = entity_rows(CATALOGUE, "device_status").check(row, NOW)
    assert checked.reasons == ()
    assert checked.typed["division_code"] == "130302" and checked.typed["type_code"] == "132"
    # Local time of the city (UTC+8), returned as an instant.
    assert checked.typed["reported_at"] == dt.datetime(2026, 7, 1, 0, 0, tzinfo=dt.timezone.utc)


def test_the_model_reports_reason_codes_as_error_types():
    model = entity_model(CATALOGUE, "device_status", NOW)
    ok = model.model_validate({"device_id": "13030200001320000001", "cmd_type": "Keepalive", "status": "OK",
                               "reported_at": dt.datetime(2026, 7, 1, 8, tzinfo=dt.timezone.utc)})
    assert ok.reported_at == dt.datetime(2026, 7, 1, 8, tzinfo=dt.timezone.utc) and ok.division_code == "130302"
    with pytest.raises(ValidationError) as raised:
        model.model_validate({"device_id": "1303", "cmd_type": "Keepalive", "status": "OK",
                              "reported_at": "2027-01-01 00:00:00"})
    assert sorted((e["type"], e["loc"][0]) for e in raised.value.errors()) == [
        ("E_FORMAT", "device_id"), ("E_FUTURE_TIME", "reported_at")]
