"""Every format's examples (valid and invalid, from the reference) through the decoders and the validator."""
import pytest

from safecity.standards.catalogue import load_catalogue
from safecity.standards.checks import compiled
from safecity.standards.ids import decode, decode_gat1400, decode_gb28181, parse_plate

CATALOGUE = load_catalogue("qinhuangdao")
FORMATS = sorted(CATALOGUE.formats)


def test_every_format_has_examples_both_ways():
    for format_id in FORMATS:
        examples = CATALOGUE.formats[format_id].examples
        assert examples.valid and examples.invalid, format_id


@pytest.mark.parametrize("format_id", FORMATS)
def test_valid_examples_decode_without_problems(format_id):
    for value in CATALOGUE.formats[format_id].examples.valid:
        decoded = decode(CATALOGUE, format_id, value)
        assert decoded.valid, (value, decoded.problems)


@pytest.mark.parametrize("format_id", FORMATS)
def test_invalid_examples_are_refused_for_the_reason_given(format_id):
    fmt = CATALOGUE.formats[format_id]
    for example in fmt.examples.invalid:
        decoded = decode(CATALOGUE, format_id, example.value)
        assert not decoded.valid, example
        matched = compiled(fmt.pattern).search(example.value) is not None
        # An example refused by one of its parts (code table, time) says so; the others fail the pattern.
        assert matched == example.why.startswith("part:"), example


def test_gb28181_decoding_depends_on_the_edition():
    device = "13030200441320000001"  # industry 44
    assert decode_gb28181(CATALOGUE, device, "2016").parts["industry"].label_zh == "电力企业接入"
    assert decode_gb28181(CATALOGUE, device, "2022").parts["industry"].label_zh == "建筑企业接入"
    network_2016 = decode_gb28181(CATALOGUE, "13030200001321000001", "2016").parts["network"].label_zh
    network_2022 = decode_gb28181(CATALOGUE, "13030200001321000001", "2022").parts["network"].label_zh
    assert (network_2016, network_2022) == ("监控报警专网", "公安视频传输网")


def test_gb28181_parts_are_labelled():
    decoded = decode_gb28181(CATALOGUE, "13030200001320000001")
    assert decoded.valid
    assert {k: (p.value, p.label_zh) for k, p in decoded.parts.items() if p.label_zh} == {
        "division": ("130302", "海港区"), "industry": ("00", "社会治安路面接入"),
        "type": ("132", "网络摄像机（IPC）"), "network": ("0", "监控报警专网")}


def test_gb28181_outside_the_city_is_a_problem():
    decoded = decode_gb28181(CATALOGUE, "13040200001320000001")
    assert not decoded.valid and "130402" in decoded.problems[0]


def test_gat1400_identifiers_are_told_apart_by_length():
    source_id = "33010101001210000001022017101808060802206"
    motor_vehicle_id = source_id + "02" + "69899"
    assert decode_gat1400(CATALOGUE, source_id).format == "gat1400_basic_object_id"
    decoded = decode_gat1400(CATALOGUE, motor_vehicle_id)
    assert decoded.format == "gat1400_image_content_id"
    assert not decode_gat1400(CATALOGUE, "1234").valid


@pytest.mark.parametrize("plate, valid", [
    ("冀C12345", True), ("冀c 12345", True), ("冀CD12345", True), ("冀C12345D", True), ("冀C1234挂", True),
    ("冀C1234", False), ("冀CI2345", False), ("冀CO2345", False), ("XC12345", False), ("冀C123456", False),
])
def test_plates_ordinary_and_new_energy(plate, valid):
    assert parse_plate(CATALOGUE, plate).valid is valid
