"""Readable units (simulator/config/units.py): every documented spelling, exact conversions, rejections."""

import math

import pytest

from simulator.config.units import (
    FREQ_HELP,
    RATE_HELP,
    SIZE_HELP,
    TIME_HELP,
    Latency,
    Rate,
    parse_frequency,
    parse_latency,
    parse_rate,
    parse_size,
)

# ---------------------------------------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1 B", 1),
        ("7B", 7),
        ("2 KB", 2_000),
        ("2 kB", 2_000),
        ("50 MB", 50_000_000),
        ("3 GB", 3_000_000_000),
        ("1 TB", 10**12),
        ("1 KiB", 1024),
        ("228 KiB", 228 * 1024),
        ("32 MiB", 33_554_432),
        ("16 GiB", 16 * 2**30),
        ("2 TiB", 2 * 2**40),
        ("1.5 KiB", 1536),
        ("1.5 KB", 1500),
        ("2.5 MB", 2_500_000),
        ("0.5 GiB", 2**29),
        ("1e9", 1_000_000_000),
        ("1e3 B", 1000),
        ("2E3 KB", 2_000_000),
        ("1_000", 1000),
        ("1_000 MiB", 1000 * 2**20),
        ("4096", 4096),  # a bare number written as text is bytes
        ("  8 KiB  ", 8192),  # surrounding space is ignored
        ("0", 0),
    ],
)
def test_size_spellings(text, expected):
    result = parse_size(text)
    assert result == expected
    assert type(result) is int


@pytest.mark.parametrize("value", [0, 1, 4096, 2**40])
def test_size_bare_integer_is_bytes(value):
    assert parse_size(value) == value


def test_size_units_are_case_sensitive():
    # "Kb" could be read as kilobits; the module refuses to guess.
    for text in ("1 kb", "1 Kb", "1 mib", "1 MIB", "1 gb", "1 kiB", "1 mB"):
        with pytest.raises(ValueError):
            parse_size(text)


@pytest.mark.parametrize(
    "value",
    [
        -1,  # negative integer
        "-1",
        "-1 KiB",
        "12 parsecs",  # unknown unit
        "1.5 B",  # fractional bytes
        "0.1 KiB",  # 102.4 bytes
        "1 GB/s",  # a rate is not a size
        "1 GHz",
        "",
        "KiB",  # no number
        "1 2 KiB",
        "1e400 B",  # infinite
        "inf",
        "nan",
        True,  # YAML `yes`/`true` must not become 1 byte
        False,
        1.5,  # a float that is not a whole number of bytes
        float("inf"),
        -4.0,
        None,
        [1],
    ],
)
def test_size_rejections(value):
    with pytest.raises(ValueError):
        parse_size(value)


@pytest.mark.parametrize("value, expected", [(8.0e10, 80_000_000_000), (1048576.0, 1048576), (0.0, 0)])
def test_size_yaml_float_of_whole_bytes(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("text, expected", [("2.01 KB", 2010), ("4.06 KB", 4060), ("2.03 MB", 2_030_000)])
def test_size_decimal_fractions_that_are_whole_bytes(text, expected):
    assert parse_size(text) == expected


# ------------------------------------------------------------------------------------------ bandwidth


@pytest.mark.parametrize(
    "text, expected",
    [
        ("1.2 TB/s", Rate(1.2e12, False)),
        ("1.2TB/s", Rate(1.2e12, False)),
        ("900 GB/s", Rate(900e9, False)),
        ("3.35 TB/s", Rate(3.35e12, False)),
        ("1 B/s", Rate(1, False)),
        ("5 KB/s", Rate(5e3, False)),
        ("5 kB/s", Rate(5e3, False)),
        ("7 MB/s", Rate(7e6, False)),
        ("1 KiB/s", Rate(1024, False)),
        ("2 MiB/s", Rate(2 * 2**20, False)),
        ("1 GiB/s", Rate(2**30, False)),
        ("1 TiB/s", Rate(2**40, False)),
        ("1e9 B/s", Rate(1e9, False)),
        ("1_000 GB/s", Rate(1e12, False)),
        ("64 B/cycle", Rate(64, True)),
        ("0.5 B/cycle", Rate(0.5, True)),
        ("0 B/cycle", Rate(0, True)),  # zero parses; the schema rejects it where bandwidth must flow
    ],
)
def test_rate_spellings(text, expected):
    rate = parse_rate(text)
    assert rate.per_cycle == expected.per_cycle
    assert rate.value == pytest.approx(expected.value, rel=1e-12)


def test_rate_exact_value():
    assert parse_rate("1.2 TB/s") == Rate(1.2e12, False)
    assert parse_rate("64 B/cycle") == Rate(64.0, True)


def test_rate_passes_through_and_resolves_with_the_clock():
    rate = Rate(3.0, True)
    assert parse_rate(rate) is rate
    assert parse_rate("64 B/cycle").bytes_per_cycle(1e9) == 64
    assert parse_rate("1 TB/s").bytes_per_cycle(1e9) == pytest.approx(1000.0)
    assert parse_rate("1.2 TB/s").bytes_per_cycle(1.05e9) == pytest.approx(1142.857142857, rel=1e-9)


@pytest.mark.parametrize(
    "value",
    [
        "100",  # missing unit
        "100 GB",  # a size, not a rate
        "1 GB/cycle",  # only B/cycle exists per cycle
        "1 Gb/s",
        "12 parsecs",
        "-1 GB/s",
        "-64 B/cycle",
        "1 B/cycles",
        "",
        100,  # numbers need a unit
        1.2e12,
        True,
        None,
    ],
)
def test_rate_rejections(value):
    with pytest.raises(ValueError):
        parse_rate(value)


# ------------------------------------------------------------------------------------------ frequency


@pytest.mark.parametrize(
    "text, expected",
    [
        ("940 MHz", 940e6),
        ("1.05 GHz", 1.05e9),
        ("1830 MHz", 1.83e9),
        ("1 GHz", 1e9),
        ("100 kHz", 1e5),
        ("50 Hz", 50.0),
        ("1e9 Hz", 1e9),
        ("1_000 MHz", 1e9),
        ("2GHz", 2e9),
        ("0 GHz", 0.0),  # parses; ChipConfig rejects a zero clock
    ],
)
def test_frequency_spellings(text, expected):
    assert parse_frequency(text) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(
    "value",
    ["1000000000", "1e9", 1_000_000_000, 1e9, "1 ghz", "1 KHz", "1 GB", "-1 GHz", "12 parsecs", "", True, None],
)
def test_frequency_rejections(value):
    with pytest.raises(ValueError):
        parse_frequency(value)


# -------------------------------------------------------------------------------------------- latency


@pytest.mark.parametrize(
    "text, expected",
    [
        ("500 ns", Latency(500e-9, False)),
        ("500ns", Latency(500e-9, False)),
        ("2 us", Latency(2e-6, False)),
        ("2 µs", Latency(2e-6, False)),  # the micro sign U+00B5
        ("2 μs", Latency(2e-6, False)),  # the Greek letter mu U+03BC, which looks the same
        ("3 ms", Latency(3e-3, False)),
        ("1 s", Latency(1.0, False)),
        ("600 cycles", Latency(600, True)),
        ("1 cycle", Latency(1, True)),
        ("200 cycles", Latency(200, True)),
        ("1e3 cycles", Latency(1000, True)),
        ("1_000 cycles", Latency(1000, True)),
        ("100", Latency(100, True)),  # a bare number as text is cycles
        ("0", Latency(0, True)),
    ],
)
def test_latency_spellings(text, expected):
    latency = parse_latency(text)
    assert latency.in_cycles == expected.in_cycles
    assert latency.value == pytest.approx(expected.value, rel=1e-12)


@pytest.mark.parametrize("value", [0, 1, 100, 600])
def test_latency_bare_integer_is_cycles(value):
    assert parse_latency(value) == Latency(value, True)


def test_latency_conversions_to_cycles():
    assert Latency(500e-9, False).cycles(1e9) == 500
    assert parse_latency("500 ns").cycles(1e9) == 500
    assert parse_latency("500 ns").cycles(1.05e9) == 525
    assert parse_latency("1 us").cycles(1.83e9) == 1830
    assert parse_latency("2 µs").cycles(1e9) == 2000
    assert parse_latency("1 ms").cycles(1e9) == 1_000_000
    assert parse_latency("1 s").cycles(940e6) == 940_000_000
    # a fraction of a cycle rounds up: the data is not there before then
    assert parse_latency("1.5 ns").cycles(1e9) == 2
    assert parse_latency("0.4 ns").cycles(1e9) == 1
    # cycles are independent of the clock
    assert parse_latency("600 cycles").cycles(1e9) == 600
    assert parse_latency("600 cycles").cycles(2e9) == 600
    assert parse_latency(7).cycles(123.0) == 7
    assert parse_latency(0).cycles(1e9) == 0


def test_latency_exact_ns_conversions_at_real_clocks():
    # ns and µs latencies must land on the exact ceiling at the clocks the presets use.
    clocks = {"940 MHz": 940, "1 GHz": 1000, "1.05 GHz": 1050, "1830 MHz": 1830}
    for clock_text, mhz in clocks.items():
        hz = parse_frequency(clock_text)
        for ns in range(1, 2001):
            expected = -(-ns * mhz // 1000)  # ceil(ns · MHz / 1000) in integers
            assert parse_latency(f"{ns} ns").cycles(hz) == expected, (clock_text, ns)


def test_latency_exact_ms_conversion_at_h100_clock():
    assert parse_latency("13 ms").cycles(parse_frequency("1830 MHz")) == 23_790_000


def test_latency_passes_through():
    latency = Latency(5.0, True)
    assert parse_latency(latency) is latency


@pytest.mark.parametrize(
    "value",
    [-1, "-5 ns", "-3", "12 parsecs", "5 ps", "5 NS", "5 min", "5 B", "", "ns", True, False, 1.5, None],
)
def test_latency_rejections(value):
    with pytest.raises(ValueError):
        parse_latency(value)


# ---------------------------------------------------------------------------------------- help texts


def test_help_texts_name_every_unit():
    for unit in ("B", "KB", "MB", "GB", "TB", "KiB", "MiB", "GiB", "TiB"):
        assert unit in SIZE_HELP
        assert f"{unit}/s" in RATE_HELP
    assert "B/cycle" in RATE_HELP
    for unit in ("Hz", "kHz", "MHz", "GHz"):
        assert unit in FREQ_HELP
    for unit in ("ns", "us", "µs", "ms", "cycles"):
        assert unit in TIME_HELP


def test_str_round_trips_through_the_parser():
    for text in ("64 B/cycle", "1.2 TB/s", "900 GB/s"):
        rate = parse_rate(text)
        assert parse_rate(str(rate)).value == pytest.approx(rate.value)
        assert parse_rate(str(rate)).per_cycle == rate.per_cycle
    for text in ("500 ns", "600 cycles"):
        latency = parse_latency(text)
        again = parse_latency(str(latency))
        assert again.in_cycles == latency.in_cycles
        assert math.isclose(again.value, latency.value, rel_tol=1e-12)
