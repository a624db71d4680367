"""render's cached parse of a text gives what filling it with the placeholder pattern directly gives."""
import pytest

from safecity.rules.templates import PLACEHOLDER, MissingValue, RenderError, _lookup, _placeholder, render

BINDINGS = {"m": {"camera_id": "C1", "minutes": 125, "ts": "2025-03-01T08:05:00+08:00", "n": 0},
            "first": {"time": "2025-03-01T08:00:00+08:00", "junction_id": "J7"}}
VARIABLES = {"count": 3}


def direct(text):
    """Filling as render did before the cache: one regex pass per call."""
    whole = PLACEHOLDER.fullmatch(text.strip())
    if whole:
        return _lookup(BINDINGS, VARIABLES, _placeholder(whole))
    return PLACEHOLDER.sub(lambda m: str(_lookup(BINDINGS, VARIABLES, _placeholder(m))), text)


TEXTS = ["no placeholder at all", "{{ minutes }}", "  {{m.minutes}}  ", "{{ count }}", "{{ n }}",
         "摄像机 {{ camera_id }} 离线 {{ minutes | 时长 }}", "{{ camera_id }}{{ m.camera_id }}",
         "自 {{ first.time | 日期 }} 起 {{ count }} 次，路口 {{ first.junction_id }}", "{{ camera_id }} tail",
         "{ single } {{ camera_id }} }}", "", "{{ m.ts|date_zh }}"]


@pytest.mark.parametrize("text", TEXTS)
def test_render_fills_like_the_pattern_does(text):
    first, again = render(text, BINDINGS, VARIABLES), render(text, BINDINGS, VARIABLES)
    assert first == again == direct(text) and type(first) is type(direct(text))


@pytest.mark.parametrize("text, missing", [("{{ camera_id }} {{ nope }} {{ other.x }}", "m.nope"),
                                           ("{{ other.x }} {{ nope }}", "other")])
def test_the_first_unfillable_placeholder_is_the_one_reported(text, missing):
    with pytest.raises(RenderError) as caught:
        render(text, BINDINGS, VARIABLES)
    with pytest.raises(RenderError) as expected:
        direct(text)
    assert str(caught.value) == str(expected.value) and missing in str(caught.value)


def test_an_optional_whole_placeholder_without_a_value_is_left_out():
    params = {"device_id": "{{ camera_id }}", "assignee": "{{ contractor }}"}
    assert render(params, BINDINGS, VARIABLES, optional={"assignee"}) == {"device_id": "C1"}
    with pytest.raises(MissingValue):
        render(params, BINDINGS, VARIABLES)
