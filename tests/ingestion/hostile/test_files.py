"""Every hostile file gives its exact outcome through the readers: refused whole with its reason code and the
file's name, or read with every record accounted for (read, or rejected alone with its line and code)."""
import pytest

from safecity.ingestion.readers import LINE_COLUMN, UnreadableFile, read
from tests.ingestion.hostile.files import FileCase, all_cases

NAME = "landing/hostile/export"


@pytest.mark.parametrize("case", all_cases())
def test_hostile_file(case: FileCase):
    where = f"{NAME}.{case.format}"
    expected = case.outcome
    if expected.file_code:
        with pytest.raises(UnreadableFile) as info:
            read(case.data, case.format, case.encoding, where, case.records)
        assert info.value.code == expected.file_code, str(info.value)
        assert str(info.value).startswith(where)
        return
    batch = read(case.data, case.format, case.encoding, where, case.records)
    assert [(r.line, r.code) for r in batch.rejected] == list(expected.rejected)
    assert batch.table.num_rows == expected.rows
    # Every record is in the table or rejected with its text, and no position is used twice.
    positions = batch.table.column(LINE_COLUMN).to_pylist() + [r.line for r in batch.rejected]
    assert len(set(positions)) == len(positions) == expected.rows + len(expected.rejected)
    assert all(r.text for r in batch.rejected)
    if expected.column is not None:
        assert batch.table.column(expected.column).to_pylist() == list(expected.values)
    if expected.lines is not None:
        assert batch.table.column(LINE_COLUMN).to_pylist() == list(expected.lines)
