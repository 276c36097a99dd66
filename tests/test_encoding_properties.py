"""Property tests: every space's parser, fed random text and JSON, either answers a canonical encoding or raises EncodingError.

Anything else (TypeError, OverflowError, MemoryError, RecursionError, ...) would reach the service as a 500.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from searchspace import EncodingError, get_space, list_spaces

#: bounded so the four spaces together take seconds, not minutes
EXAMPLES = 150

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=8) | st.dictionaries(st.text(max_size=12), inner, max_size=5),
    max_leaves=30,
)


def tokens(space_name: str) -> st.SearchStrategy[str]:
    """Fragments of the space's own text form, so random text often gets deep into its parser."""
    example = get_space(space_name).describe()["example"]
    pieces = sorted(set(example.replace("(", " ( ").replace(")", " ) ").replace("[", " [ ").replace("]", " ] ").split()))
    extras = ["range(2, 6)", "range(2, 99999999999999999999999)", "-", "()", "~", "|", "+", "0", "9" * 30, ",", "'", "\x00", "²"]
    return st.lists(st.sampled_from(pieces + extras), max_size=40).map("".join)


def assert_canonical_or_encoding_error(space_name: str, arch) -> None:
    space = get_space(space_name)
    try:
        canonical = space.canonical(arch)
    except EncodingError:
        return
    assert isinstance(canonical, str), f"{space_name}: canonical form of {arch!r} is not a string"
    assert space.canonical(canonical) == canonical, f"{space_name}: canonical form of {arch!r} is not a fixed point"


@pytest.mark.parametrize("space_name", list_spaces())
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_json_is_parsed_or_refused_with_an_encoding_error(space_name, data):
    assert_canonical_or_encoding_error(space_name, data.draw(json_values, label="arch"))


@pytest.mark.parametrize("space_name", list_spaces())
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_text_is_parsed_or_refused_with_an_encoding_error(space_name, data):
    text = data.draw(st.one_of(st.text(max_size=200), tokens(space_name)), label="text")
    assert_canonical_or_encoding_error(space_name, text)


@pytest.mark.parametrize("space_name", list_spaces())
@pytest.mark.parametrize(
    "arch",
    ["-" * 9000 + "1", "f" + "()" * 4900, "[" * 5000 + "]" * 5000, "9" * 5000, "x" * 2_000_000, "²", "|nor_conv_3x3~²|",
     "|skip_connect~" + "9" * 5000 + "|", "8:²:8:8:8"],
    ids=["unary-run", "call-chain", "deep-list", "long-number", "two-megabytes", "superscript", "nb201-superscript-input",
         "nb201-huge-input", "nats-superscript-channel"],
)
def test_pathological_text_is_refused_with_an_encoding_error(space_name, arch):
    assert_canonical_or_encoding_error(space_name, arch)


@pytest.mark.parametrize("space_name", list_spaces())
def test_a_huge_concatenation_range_is_refused_briefly(space_name):
    """The DARTS text form's ``range(...)`` neither materialises nor echoes a huge range (other spaces just refuse the text)."""
    example = get_space(space_name).describe()["example"]
    for stop in ("1000000", "0x" + "f" * 40):
        text = example.replace("normal_concat=[2, 3, 4, 5]", f"normal_concat=range(2, {stop})") if "normal_concat" in example else f"range(2, {stop})"
        with pytest.raises(EncodingError) as caught:
            get_space(space_name).canonical(text)
        assert len(str(caught.value)) < 500, f"{space_name}: the error repeats {len(str(caught.value))} characters"
