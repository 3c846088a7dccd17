"""A checker of Mermaid `xychart-beta` text, for the GitHub summary's memory
charts (src/gha/memory.c): no mermaid-cli offline, so this follows Mermaid's
own grammar (packages/mermaid/src/diagrams/xychart/parser/xychart.jison in
mermaid-js/mermaid): its tokens (NUMBER_WITH_DECIMAL, STR, MD_STR, the
alphaNum tokens, "-->") and its statements (title, x-axis, y-axis, line,
bar). It accepts only what that grammar accepts (a stricter subset: one
alphaNum run for an unquoted text) and raises XYChartError otherwise; on
top of the grammar it refuses what would draw a wrong chart (an empty or
reversed range, series of different lengths)."""
import re

NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d+)?|\.\d+)")
ALNUM = re.compile(r"[A-Za-z0-9+=*#_.&-]+")  # alphaNumToken: ALPHA NUM PLUS EQUALS MULT BRKT UNDERSCORE DOT AMP MINUS


class XYChartError(ValueError):
    pass


def _text(rest):
    """A `text` (a "quoted" STR, a `"md"` MD_STR or an alphaNum run) at the start of rest: (text, rest)."""
    rest = rest.lstrip()
    if rest.startswith('`"'):
        end = rest.find('`"', 2)
        if end < 0:
            raise XYChartError(f"unterminated markdown string in {rest!r}")
        return rest[2:end], rest[end + 2:]
    if rest.startswith('"'):
        end = rest.find('"', 1)
        if end < 0:
            raise XYChartError(f"unterminated string in {rest!r}")
        return rest[1:end], rest[end + 1:]
    m = ALNUM.match(rest)
    if not m:
        raise XYChartError(f"expected a text at {rest!r}")
    return m.group(0), rest[m.end():]


def _numbers(rest):
    """`[n, n, ...]` (commaSeparatedNumbers, at least one) at the start of rest: (list, rest)."""
    rest = rest.lstrip()
    if not rest.startswith("["):
        raise XYChartError(f"expected '[' at {rest!r}")
    end = rest.find("]")
    if end < 0:
        raise XYChartError(f"unterminated list in {rest!r}")
    items = [x.strip() for x in rest[1:end].split(",")]
    for x in items:
        if not NUMBER.fullmatch(x):
            raise XYChartError(f"{x!r} is not a number")
    return [float(x) for x in items], rest[end + 1:]


def _range(rest):
    """`min --> max` at the start of rest, or None when rest is not a range."""
    m = re.match(r"\s*(" + NUMBER.pattern + r")\s*-->\s*(" + NUMBER.pattern + r")", rest)
    if not m:
        return None, rest
    return (float(m.group(1)), float(m.group(2))), rest[m.end():]


def _axis(rest, band_allowed):
    """parseXAxis / parseYAxis: text | text data | data."""
    title = None
    rng, after = _range(rest)
    if rng is None and not rest.lstrip().startswith("["):
        title, rest = _text(rest)
        rng, after = _range(rest)
    if rng is not None:
        if not rng[0] < rng[1]:
            raise XYChartError(f"axis range {rng[0]} --> {rng[1]} is empty or reversed")
        return {"title": title, "range": rng}, after
    if rest.lstrip().startswith("["):
        if not band_allowed:
            raise XYChartError("y-axis takes no band list")
        body = rest.lstrip()
        end = body.find("]")
        if end < 0:
            raise XYChartError("unterminated band list")
        return {"title": title, "band": [b.strip() for b in body[1:end].split(",")]}, body[end + 1:]
    if title is None:
        raise XYChartError("axis without title or data")
    return {"title": title}, rest


def parse(text):
    """Parse a whole xychart-beta diagram; returns {"title", "x", "y", "lines", "bars"}."""
    chart = {"title": None, "x": None, "y": None, "lines": [], "bars": []}
    lines = [l for l in re.split(r"[\n;]", text) if l.strip() and not l.strip().startswith("%%")]
    if not lines or not re.fullmatch(r"\s*xychart(?:-beta)?(?:\s+(?:vertical|horizontal))?\s*", lines[0]):
        raise XYChartError(f"the diagram must start with xychart-beta, not {lines[:1]!r}")
    for line in lines[1:]:
        if "%%" in line:
            raise XYChartError(f"'%%' starts a comment mid-line: {line!r}")
        m = re.match(r"\s*(title|x-axis|y-axis|line|bar)\b(.*)$", line)
        if not m:
            raise XYChartError(f"unknown statement {line.strip()!r}")
        kw, rest = m.group(1), m.group(2)
        if kw == "title":
            chart["title"], rest = _text(rest)
        elif kw in ("x-axis", "y-axis"):
            chart["x" if kw == "x-axis" else "y"], rest = _axis(rest, kw == "x-axis")
        else:
            if not rest.lstrip().startswith("["):
                _name, rest = _text(rest)
            data, rest = _numbers(rest)
            chart["lines" if kw == "line" else "bars"].append(data)
        if rest.strip():
            raise XYChartError(f"unexpected {rest.strip()!r} after {kw}")
    series = chart["lines"] + chart["bars"]
    if not series:
        raise XYChartError("no line or bar data")
    if len({len(s) for s in series}) != 1:
        raise XYChartError(f"series of different lengths {[len(s) for s in series]}")
    if chart["x"] and "band" in chart["x"] and len(chart["x"]["band"]) != len(series[0]):
        raise XYChartError("x-axis band and data differ in length")
    return chart


def mermaid_blocks(markdown):
    """The bodies of the ```mermaid fenced blocks of a Markdown text."""
    return re.findall(r"^```mermaid\n(.*?)^```$", markdown, flags=re.S | re.M)
