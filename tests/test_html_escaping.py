"""Hostile names in metrics.json, run paths and class folders reach the HTML as text, never as markup."""
import json
from html.parser import HTMLParser

import numpy as np
import pytest
import torch

from conftest import run_cli
from genforge.core.errors import GenforgeError
from genforge.evaluation import compare as compare_mod
from genforge.evaluation.compare import compare, write_html
from genforge.evaluation.report import write_report

IMG = "<img src=x onerror=alert(1)>"
SCRIPT = "<script>alert(1)</script>"
SVG = "\"'><svg onload=alert(1)>"
HOSTILE = (IMG, SCRIPT, SVG)


class Page(HTMLParser):
    """Every element and attribute the browser would build, and the text it would show."""

    def __init__(self, page: str):
        super().__init__()  # convert_charrefs: &lt; arrives as '<' in handle_data, as a browser shows it
        self.tags: list[tuple[str, dict]] = []
        self.text: list[str] = []
        self.feed(page)
        self.close()

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data):
        self.text.append(data)


def assert_inert(page: str, visible: tuple[str, ...]) -> None:
    parsed = Page(page)
    names = {tag for tag, _ in parsed.tags}
    assert not names & {"script", "svg", "iframe", "object", "embed"}, names
    for tag, attrs in parsed.tags:
        assert not [a for a in attrs if a.startswith("on")], (tag, attrs)
        if tag == "img":
            assert attrs["src"].startswith("data:image/png;base64,"), attrs
    shown = "".join(parsed.text)
    for s in visible:
        assert s in shown, f"{s!r} is not shown as text"


def metrics_json(names=HOSTILE, value=1.0, prov_text=SVG) -> dict:
    prov = {"sha256": "x", "n_generated": 100, "n_real": 100, "split": "test", "extractor": prov_text}
    return {"metrics": {name: {"value": value + i, "ci95": [value + i - 0.1, value + i + 0.1], "floor": 0.5,
                               "provenance": prov, "warnings": [SCRIPT]} for i, name in enumerate(names)},
            "run": {"run": IMG, "data": SCRIPT}}


def test_compare_html_shows_hostile_names_as_text(tmp_path):
    rows = compare(metrics_json(), metrics_json(value=2.0))
    out = write_html(rows, f"runs/{IMG}", f"runs/{SCRIPT}", tmp_path / "c.html")
    assert_inert(out.read_text(encoding="utf-8"), HOSTILE + (f"runs/{IMG}", f"runs/{SCRIPT}"))


def test_compare_cli_html_shows_hostile_run_and_metric_names_as_text(tmp_path):
    # a run folder whose path holds markup: "<script>alert(1)</script>" spans two folder levels
    run_a, run_b = tmp_path / IMG, tmp_path / "<script>alert(1)<" / "script>"
    for run, value in ((run_a, 1.0), (run_b, 2.0)):
        (run / "eval").mkdir(parents=True)
        (run / "eval" / "metrics.json").write_text(json.dumps(metrics_json(value=value)))
    p = run_cli("compare", str(run_a), str(run_b), "--html", str(tmp_path / "c.html"))
    assert p.returncode == 0, p.stderr
    assert_inert((tmp_path / "c.html").read_text(encoding="utf-8"), HOSTILE + (str(run_a), str(run_b)))


@pytest.mark.parametrize("quote", ['"', "'"])
def test_h_keeps_hostile_text_inside_a_quoted_attribute(quote):
    from genforge.evaluation.report import h

    for s in HOSTILE:
        parsed = Page(f"<img alt={quote}{h(s)}{quote} title={quote}{h(s)}{quote} src='data:image/png;base64,'>")
        assert parsed.tags == [("img", {"alt": s, "title": s, "src": "data:image/png;base64,"})]
    assert h(0.123456) == "0.123456" and h(0.123456, ".2f") == "0.12" and h(None) == "–" and h(True) == "True"


def fake_result(metric_names=HOSTILE, value=0.5) -> dict:
    g = torch.Generator().manual_seed(0)
    fake = torch.randint(0, 256, (12, 1, 8, 8), dtype=torch.uint8, generator=g)
    rng = np.random.default_rng(0)
    metrics = {name: {"value": value, "ci95": [0.4, 0.6], "floor": 0.1, "warnings": [SCRIPT, IMG],
                      "provenance": {"extractor": SVG, "n_real": IMG, "n_generated": 12, "dataset_hash": SCRIPT}}
               for name in metric_names}
    return {"metrics": metrics, "settings": {"split": SVG}, "run": {"run": IMG, "data": SCRIPT}, "seconds": 0.1,
            "closest_pairs": [{"generated": 0, "train": 1, "ratio": 0.3}],
            "_arrays": {"fake": fake, "labels": torch.arange(12) % 3,
                        "real_features": rng.normal(size=(12, 4)), "fake_features": rng.normal(size=(12, 4))}}


def test_report_shows_hostile_class_run_and_metric_names_as_text(tmp_path):
    train_x = torch.zeros(4, 1, 8, 8, dtype=torch.uint8)
    out = write_report(fake_result(), tmp_path / "report.html", f"genforge eval: {SVG}", list(HOSTILE), train_x, [])
    assert_inert(out.read_text(encoding="utf-8"), HOSTILE + (f"genforge eval: {SVG}",))


@pytest.mark.parametrize("value", ["<b>0.5</b>", None, [1, 2], True])
def test_report_shows_a_tampered_value_as_text(tmp_path, value):
    result = fake_result(("fid",))
    m = result["metrics"]["fid"]
    m.update(value=value, ci95=["<i>lo</i>", 0.6], floor="<u>x</u>")
    out = write_report(result, tmp_path / "report.html", "t", ["a", "b", "c"], torch.zeros(4, 1, 8, 8, dtype=torch.uint8), [])
    page = out.read_text(encoding="utf-8")
    assert_inert(page, ("<i>lo</i>", "<u>x</u>"))
    assert {tag for tag, _ in Page(page).tags}.isdisjoint({"b", "i", "u"})


def tampered(field, bad):
    data = metrics_json(names=("fid",))
    if field == "metrics":
        data["metrics"] = bad
    else:
        data["metrics"]["fid"][field] = bad
    return data


TAMPERED = [("metrics", [1, 2]), ("metrics", None), ("value", "0.5"), ("value", None), ("value", True),
            ("ci95", "wide"), ("ci95", [0.1]), ("ci95", ["a", "b"]), ("provenance", "x")]


@pytest.mark.parametrize("field,bad", TAMPERED)
def test_compare_rejects_a_tampered_metric_in_one_line(field, bad):
    with pytest.raises(GenforgeError) as err:
        compare(tampered(field, bad), metrics_json(names=("fid",)))
    assert "\n" not in str(err.value)


def test_load_metrics_names_the_file_and_bounds_it(tmp_path, monkeypatch):
    from genforge.evaluation.compare import load_metrics

    path = tmp_path / "metrics.json"
    for text, reason in [(json.dumps(tampered("value", "0.5")), "'fid'.*not a number"),
                         (json.dumps(tampered("metrics", [1])), "'metrics' is not a mapping"),
                         (json.dumps({"metrics": {"x\x1b[2J": {"value": 1.0, "ci95": None, "provenance": {}}}}),
                          "not printable"),
                         ("{not json", "not valid JSON"), ("[" * 100_000, "not valid JSON"),
                         (json.dumps([1, 2]), "not a JSON object"), ("\udcff", "not valid JSON")]:
        path.write_text(text, encoding="utf-8", errors="surrogateescape")
        with pytest.raises(GenforgeError, match=reason) as err:
            load_metrics(path)
        assert str(path) in str(err.value) and "\n" not in str(err.value)
    path.write_text(json.dumps(metrics_json()))
    assert set(load_metrics(path)["metrics"]) == set(HOSTILE)
    monkeypatch.setattr(compare_mod, "MAX_METRICS_BYTES", 100)
    with pytest.raises(GenforgeError, match="larger than"):
        load_metrics(path)
    with pytest.raises(GenforgeError, match="does not exist"):
        load_metrics(tmp_path / "none.json")


def test_compare_cli_refuses_a_tampered_metrics_json(tmp_path):
    for run, data in (("a", metrics_json(names=("fid",))), ("b", tampered("value", "<b>1</b>"))):
        (tmp_path / run / "eval").mkdir(parents=True)
        (tmp_path / run / "eval" / "metrics.json").write_text(json.dumps(data))
    p = run_cli("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--html", str(tmp_path / "c.html"))
    assert p.returncode == 2 and "Traceback" not in p.stderr and "'fid'" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1 and not (tmp_path / "c.html").exists()


def test_report_grid_keeps_one_row_per_class_when_a_class_has_few_samples():
    """Row r is class r even when class 0 has only 3 samples (they used to pull class 1's into row 0)."""
    from genforge.evaluation.report import class_rows

    fake = torch.arange(1, 24, dtype=torch.uint8).view(23, 1, 1, 1).expand(23, 1, 2, 2).clone()
    labels = torch.tensor([0] * 3 + [1] * 20)
    rows = class_rows(fake, labels, 2)
    assert rows.shape == (20, 1, 2, 2)
    assert rows[:3, 0, 0, 0].tolist() == [1, 2, 3] and (rows[3:10] == 0).all()  # class 0, then blank tiles
    assert rows[10:, 0, 0, 0].tolist() == list(range(4, 14))  # row 1: the first ten of class 1
