"""Index selections as typed on the command line."""

import pytest

from explorer.analyses.errors import AnalysisError
from explorer.analyses.selection import describe_indices, parse_index, parse_indices


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7", (7,)),
        ("0:4", (0, 1, 2, 3)),
        (":3", (0, 1, 2)),
        ("8:", (8, 9)),
        ("0:10:4", (0, 4, 8)),
        ("1, 5,9", (1, 5, 9)),
        ("0:2,7", (0, 1, 7)),
    ],
)
def test_parse_indices(text, expected):
    assert parse_indices(text, 10) == expected


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("10", "out of range 0..9"),
        ("0:11", "past the end"),
        ("a:b", "not a whole number"),
        ("1:2:3:4", "too many"),
        ("0:4:0", "step"),
        ("5:2", "selects nothing"),
        ("-1", "negative"),
        ("1,,2", "empty item"),
    ],
)
def test_bad_selections_name_the_flag_and_text(text, reason):
    with pytest.raises(AnalysisError, match=reason) as info:
        parse_indices(text, 10, "--images")
    assert str(info.value).startswith(f"--images {text}: ")


def test_parse_index():
    assert parse_index("3", 4, "--image") == 3
    with pytest.raises(AnalysisError, match=r"--image 4: 4 is out of range 0\.\.3"):
        parse_index("4", 4, "--image")


def test_describe_indices():
    assert describe_indices([5]) == "5"
    assert describe_indices(range(16)) == "0-15"
    assert describe_indices(range(0, 31, 2)) == "0-30 step 2"
    assert describe_indices([1, 5, 9]) == "1-9 step 4"
    assert describe_indices([1, 5, 7]) == "1, 5, 7"
    assert describe_indices(range(0, 80, 9)[::-1]).endswith("(9 in all)")
