"""`genforge compare`: two evaluations side by side; a difference counts only when the CIs do not overlap."""
from __future__ import annotations

from pathlib import Path

from genforge.core.errors import GenforgeError
from genforge.core.jsonfile import read_json_object
from genforge.evaluation.metrics.spec import DIRECTIONS, direction_of
from genforge.evaluation.report import CSS, h

# provenance fields that must agree for two values of a metric to be comparable at all
COMPARABLE_ON = ("sha256", "n_generated", "n_real", "split", "n_members", "critic")
MAX_METRICS_BYTES = 50 * 2**20  # a real metrics.json is a few kB


def _show(value) -> str:
    return repr(value)[:40]


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def check_result(result, source: str) -> dict:
    """The metrics.json shape compare reads, or a one-line GenforgeError naming source and metric."""
    if not isinstance(result, dict):
        raise GenforgeError(f"{source} is not a JSON object; re-run `genforge eval` to rewrite it")
    metrics = result.get("metrics")
    if not isinstance(metrics, dict):
        raise GenforgeError(f"{source}: 'metrics' is not a mapping (got {_show(metrics)}); re-run `genforge eval` to rewrite it")
    for name, m in metrics.items():
        where = f"{source}: metric {_show(name)}"
        if not isinstance(name, str) or not name.isprintable():  # control characters would rewrite the terminal
            raise GenforgeError(f"{where}: the name is not printable text; re-run `genforge eval` to rewrite it")
        if not isinstance(m, dict):
            raise GenforgeError(f"{where} is not a mapping (got {_show(m)}); re-run `genforge eval` to rewrite it")
        ci = m.get("ci95")
        if not _is_number(m.get("value")):
            problem = f"value is not a number (got {_show(m.get('value'))})"
        elif ci is not None and not (isinstance(ci, list) and len(ci) == 2 and all(map(_is_number, ci))):
            problem = f"ci95 is not null or two numbers (got {_show(ci)})"
        elif "direction" in m and m["direction"] not in DIRECTIONS:
            problem = f"direction is not one of {', '.join(DIRECTIONS)} (got {_show(m['direction'])})"
        elif not isinstance(m.get("provenance"), dict):
            problem = f"provenance is not a mapping (got {_show(m.get('provenance'))})"
        else:
            continue
        raise GenforgeError(f"{where}: {problem}; re-run `genforge eval` to rewrite it")
    return result


def load_metrics(path: Path) -> dict:
    """Read and check an eval/metrics.json, which anyone could have edited: bounded, one-line errors."""
    data = read_json_object(path, MAX_METRICS_BYTES, hint="; re-run `genforge eval` to rewrite it")
    return check_result(data, str(path))


def _better(direction: str | None, va: float, vb: float) -> str | None:
    """'A', 'B' or 'same' by the metric's declared direction; None when it declares none."""
    if direction is None:
        return None
    lower = direction in ("lower", "near_0.5")
    key = (lambda v: abs(v - 0.5)) if direction == "near_0.5" else (lambda v: v)  # an attack AUC of 0.3 leaks as 0.7
    return "same" if key(va) == key(vb) else ("A" if (key(va) < key(vb)) == lower else "B")


def compare(a: dict, b: dict) -> list[dict]:
    """Rows: metric, value A, value B, which is better, and whether the gap exceeds both CIs.

    "Better" follows the direction recorded in run A's metrics.json (else run B's), else the one its
    registered spec declares (files written before directions were recorded).
    """
    check_result(a, "run A")
    check_result(b, "run B")
    rows = []
    for name in a["metrics"]:
        if name not in b["metrics"]:
            continue
        ma, mb = a["metrics"][name], b["metrics"][name]
        va, vb = ma["value"], mb["value"]
        direction = direction_of(name, ma if "direction" in ma else mb)
        better = _better(direction, va, vb)
        separated = None
        if ma["ci95"] and mb["ci95"]:
            separated = ma["ci95"][1] < mb["ci95"][0] or mb["ci95"][1] < ma["ci95"][0]
        comparable = all(ma["provenance"].get(k) == mb["provenance"].get(k) for k in COMPARABLE_ON)
        rows.append({"metric": name, "a": va, "b": vb, "better": better, "significant": separated,
                     "comparable": comparable, "direction": direction})
    return rows


def format_rows(rows: list[dict], name_a: str, name_b: str) -> str:
    lines = [f"{'metric':22} {'A':>10} {'B':>10}  verdict", f"A = {name_a}", f"B = {name_b}"]
    lines[0], lines[1], lines[2] = lines[1], lines[2], lines[0]
    for r in rows:
        if r["better"] is None:
            verdict = "not ranked: no declared direction (not a registered metric)"
        elif r["better"] == "same":
            verdict = "equal"
        elif r["significant"]:
            verdict = f"{r['better']} better (CIs do not overlap)"
        else:
            verdict = f"{r['better']} ahead, within the CIs (not a real difference at this N)"
        if not r["comparable"]:
            verdict += " [different extractor or N: not comparable]"
        lines.append(f"{r['metric']:22} {r['a']:10.4g} {r['b']:10.4g}  {verdict}")
    return "\n".join(lines)


def write_html(rows: list[dict], name_a: str, name_b: str, path: Path) -> Path:
    body = "".join(
        f"<tr><td>{h(r['metric'])}</td><td>{h(r['a'], '.4g')}</td><td>{h(r['b'], '.4g')}</td><td>{h(r['better'])}</td>"
        f"<td>{'yes' if r['significant'] else 'no'}</td><td>{'yes' if r['comparable'] else 'no'}</td></tr>" for r in rows)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>compare</title><style>{CSS}</style></head><body>"
            f"<h1>A: {h(name_a)}<br>B: {h(name_b)}</h1><table><tr><th>metric</th><th>A</th><th>B</th>"
            f"<th>better</th><th>CIs separate</th><th>comparable</th></tr>{body}</table></body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8", errors="replace")  # the page declares utf-8, whatever the locale
    return path
