"""`genforge compare`: two evaluations side by side; a difference counts only when the CIs do not overlap."""
from __future__ import annotations

import html
from pathlib import Path

from genforge.evaluation.report import CSS, LOWER_IS_BETTER, NEAR_HALF_IS_BETTER

# provenance fields that must agree for two values of a metric to be comparable at all
COMPARABLE_ON = ("sha256", "n_generated", "n_real", "split", "n_members", "critic")


def compare(a: dict, b: dict) -> list[dict]:
    """Rows: metric, value A, value B, which is better, and whether the gap exceeds both CIs."""
    rows = []
    for name in a["metrics"]:
        if name not in b["metrics"]:
            continue
        ma, mb = a["metrics"][name], b["metrics"][name]
        va, vb = ma["value"], mb["value"]
        lower = name in LOWER_IS_BETTER or name in NEAR_HALF_IS_BETTER
        key = (lambda v: abs(v - 0.5)) if name in NEAR_HALF_IS_BETTER else (lambda v: v)
        better = "same" if key(va) == key(vb) else ("A" if (key(va) < key(vb)) == lower else "B")
        separated = None
        if ma["ci95"] and mb["ci95"]:
            separated = ma["ci95"][1] < mb["ci95"][0] or mb["ci95"][1] < ma["ci95"][0]
        comparable = all(ma["provenance"].get(k) == mb["provenance"].get(k) for k in COMPARABLE_ON)
        rows.append({"metric": name, "a": va, "b": vb, "better": better, "significant": separated,
                     "comparable": comparable, "lower_is_better": lower})
    return rows


def format_rows(rows: list[dict], name_a: str, name_b: str) -> str:
    lines = [f"{'metric':22} {'A':>10} {'B':>10}  verdict", f"A = {name_a}", f"B = {name_b}"]
    lines[0], lines[1], lines[2] = lines[1], lines[2], lines[0]
    for r in rows:
        if r["better"] == "same":
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
        f"<tr><td>{r['metric']}</td><td>{r['a']:.4g}</td><td>{r['b']:.4g}</td><td>{r['better']}</td>"
        f"<td>{'yes' if r['significant'] else 'no'}</td><td>{'yes' if r['comparable'] else 'no'}</td></tr>" for r in rows)
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>compare</title><style>{CSS}</style></head><body>"
            f"<h1>A: {html.escape(name_a)}<br>B: {html.escape(name_b)}</h1><table><tr><th>metric</th><th>A</th><th>B</th>"
            f"<th>better</th><th>CIs separate</th><th>comparable</th></tr>{body}</table></body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page)
    return path
