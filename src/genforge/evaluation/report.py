"""One self-contained HTML report per evaluation (images embedded as base64 PNG)."""
from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import numpy as np
import torch

from genforge.core.images import make_grid
from genforge.evaluation.metrics.spec import DIRECTION_TEXT, direction_of

CSS = """body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}
th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}.warn{color:#a60;font-size:90%}
img.px{image-rendering:pixelated}figure{display:inline-block;margin:0 1em 1em 0}pre{background:#f6f6f6;padding:1em;overflow:auto}"""


def direction(name: str, block=None) -> str:
    """What 'better' means for a result row: as metrics.json recorded it, else as its registered spec declares."""
    return DIRECTION_TEXT.get(direction_of(name, block), "direction not declared (not a registered metric)")


def _png(grid_chw: torch.Tensor, scale: int = 3) -> str:
    from PIL import Image

    arr = grid_chw.permute(1, 2, 0).numpy()
    img = Image.fromarray(arr[:, :, 0] if arr.shape[2] == 1 else arr)
    img = img.resize((img.width * scale, img.height * scale), Image.Resampling.NEAREST)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def _plot(draw) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5.2, 3.4), dpi=90)
    draw(ax)
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode()


def h(value, spec: str = "") -> str:
    """The one way a value reaches the page (text or a quoted attribute): a number formatted by spec,
    None as a dash, anything else escaped text.

    metrics.json, run paths and class folder names are user input: a name like ``<img onerror=...>``
    must show as text, and a string where a float belongs must not raise mid-report.
    """
    if value is None:
        return "–"
    if isinstance(value, (int, float, np.number)) and not isinstance(value, bool):
        return html.escape(format(value, spec))
    return html.escape(str(value))


def _img(b64: str, alt: str, cls: str = "") -> str:
    return f'<img class="{h(cls)}" alt="{h(alt)}" src="data:image/png;base64,{h(b64)}">'


def _ci(ci) -> str:
    if isinstance(ci, (list, tuple)) and len(ci) == 2:
        return f"{h(ci[0], '.4g')} – {h(ci[1], '.4g')}"
    return h(ci)


def _metric_row(name: str, m) -> str:
    if not isinstance(m, dict):  # a tampered block: show it, do not guess
        return f"<tr><td>{h(name)}</td><td colspan='5'>{h(m)}</td></tr>"
    p = m.get("provenance") if isinstance(m.get("provenance"), dict) else {}
    warnings = m.get("warnings") or []
    warn = "".join(f'<div class="warn">⚠ {h(w)}</div>' for w in (warnings if isinstance(warnings, list) else [warnings]))
    return (f"<tr><td>{h(name)}<br><small>{h(direction(name, m))}</small>{warn}</td><td>{h(m.get('value'), '.4g')}</td>"
            f"<td>{_ci(m.get('ci95'))}</td><td>{h(m.get('floor'), '.4g')}</td>"
            f"<td>{h(p.get('n_real'))} / {h(p.get('n_generated'))}</td><td>{h(p.get('extractor') or p.get('critic'))}</td></tr>")


def metrics_table(metrics: dict) -> str:
    rows = ["<tr><th>metric</th><th>value</th><th>95% CI</th><th>real-vs-real floor</th><th>N real / gen</th>"
            "<th>features / scored by</th></tr>"]
    rows += [_metric_row(name, m) for name, m in metrics.items()]
    return "<table>" + "".join(rows) + "</table>"


def class_rows(fake: torch.Tensor, labels: torch.Tensor, n_classes: int, per_row: int = 10) -> torch.Tensor:
    """Up to ``per_row`` samples of each class, a class with fewer padded with blank tiles, so row r is class r."""
    rows = []
    for c in range(n_classes):
        got = fake[(labels == c).nonzero().flatten()[:per_row]]
        rows.append(torch.cat([got, fake.new_zeros((per_row - len(got), *fake.shape[1:]))]))
    return torch.cat(rows)


def _class_grid(fake: torch.Tensor, labels: torch.Tensor | None, classes: list[str]) -> str:
    if labels is None:
        return _img(_png(make_grid(fake[:100], 10)), "generated samples", "px")
    shown = classes[:20]
    grid = _img(_png(make_grid(class_rows(fake, labels, len(shown)), 10)), "generated samples, one row per class", "px")
    return f"<figure>{grid}<figcaption>rows, top to bottom: {h(', '.join(map(str, shown)))}</figcaption></figure>"


def _pairs(result: dict, train_x: torch.Tensor) -> str:
    fake = result["_arrays"]["fake"]
    figs = []
    for p in result.get("closest_pairs", []):
        pair = torch.stack([fake[p["generated"]], train_x[p["train"]]])
        figs.append(f"<figure>{_img(_png(make_grid(pair, 2), 4), 'pair', 'px')}<figcaption>ratio {h(p['ratio'], '.2f')}</figcaption></figure>")
    return "".join(figs)


def _pca(real: np.ndarray, fake: np.ndarray) -> str:
    both = np.concatenate([real, fake])
    mean = both.mean(0)
    _, _, vt = np.linalg.svd(both - mean, full_matrices=False)
    r2, f2 = (real - mean) @ vt[:2].T, (fake - mean) @ vt[:2].T

    def draw(ax):
        ax.scatter(r2[:, 0], r2[:, 1], s=4, alpha=0.5, label=f"real (N={len(real)})")
        ax.scatter(f2[:, 0], f2[:, 1], s=4, alpha=0.5, label=f"generated (N={len(fake)})")
        ax.set_title("features, first two principal components")
        ax.legend(markerscale=3)

    return _img(_plot(draw), "PCA of real and generated features")


def _curves(records: list[dict]) -> str:
    train = [r for r in records if "img_per_s" in r]  # the training records: step, epoch, img/s and the task's losses
    evals = [r for r in records if "eval" in r]
    logged = [k for k in (train[0] if train else {}) if k not in ("step", "epoch", "img_per_s")]
    keys = sorted(logged, key=lambda k: not k.startswith("loss"))[:6]  # losses first, then other terms
    out = ""
    if train and keys:
        def draw(ax):
            for key in keys:  # whatever the family's task logs (loss_d/loss_g for a GAN)
                ax.plot([r["step"] for r in train if key in r], [r[key] for r in train if key in r], label=key, lw=0.8)
            ax.set_xlabel("step")
            ax.set_title("training losses")
            ax.legend()
        out += _img(_plot(draw), "loss curves")
    if evals:
        name = next(k for k in evals[0]["eval"] if k != "seconds")

        values = [r["eval"][name] for r in evals]

        def draw2(ax):
            ax.plot([r["step"] for r in evals], values, marker="o")
            ax.set_xlabel("step")
            if all(isinstance(v, (int, float)) and v > 0 for v in values):
                ax.set_yscale("log")
            ax.set_title(f"{name} on the validation split (selection)")
        out += _img(_plot(draw2), "selection metric vs step")
    return out


def _sweep(rows: list[dict] | None) -> list[str]:
    """The steps-vs-quality section of `eval --sampler-sweep` (empty without a sweep)."""
    if not rows:
        return []
    from genforge.evaluation.sweep import sweep_draws

    table = "".join(f"<tr><td>{h(r['sampler'])}</td><td>{h(r['sample_steps'])}</td><td>{h(r['kid'], '.5f')}</td>"
                    f"<td>{_ci(r['ci95'])}</td><td>{h(r['n_generated'])}</td><td>{h(r['img_per_s'])}</td></tr>" for r in rows)
    return ["<h2>Sampler sweep: quality vs steps</h2><p>KID against the reference split (FID needs more samples per "
            "point than a sweep can afford), the same per-sample noise at every point.</p>",
            "".join(_img(_plot(d), "sampler sweep") for d in sweep_draws(rows)),
            f"<table><tr><th>sampler</th><th>steps</th><th>KID</th><th>95% CI</th><th>N</th><th>img/s</th></tr>{table}</table>"]


def _interpolation(images: torch.Tensor | None, steps: int = 10) -> list[str]:
    if images is None:
        return []
    from genforge.core.images import make_grid

    return ["<h2>Latent interpolation</h2><p>Each row walks along a great circle between two latents (White 2016), "
            "the class held fixed (row r = class r for a conditional model). Smooth rows mean a smooth latent space; "
            "abrupt jumps or repeats hint at memorisation or collapse.</p>",
            _img(_png(make_grid(images, steps)), "latent interpolation")]


def write_report(result: dict, path: Path, title: str, classes: list[str], train_x: torch.Tensor, records: list[dict],
                 sweep: list[dict] | None = None, interpolation: torch.Tensor | None = None) -> Path:
    arrays = result["_arrays"]
    public = {k: v for k, v in result.items() if k != "_arrays"}
    body = [f"<h1>{h(title)}</h1>",
            f"<p>Evaluated in {h(result['seconds'])}s. Each metric: value, bootstrap 95% CI, and the real-vs-real floor "
            "(the same metric between real train and real reference images: the best a generator can hope for at this N). "
            "See docs/metrics.md for what each one means and when it lies.</p>",
            "<h2>Metrics</h2>", metrics_table(result["metrics"]),
            "<h2>Samples</h2>", _class_grid(arrays["fake"], arrays["labels"], classes),
            *_interpolation(interpolation), "<h2>Training curves</h2>", _curves(records), *_sweep(sweep),
            "<h2>Closest generated–training pairs</h2><p>Generated (left) beside its nearest training image (right), "
            "by the memorisation ratio (distance to nearest train / that image's nearest-neighbour distance; < 0.5 is flagged).</p>",
            _pairs(result, train_x),
            "<h2>Real vs generated features</h2>", _pca(arrays["real_features"], arrays["fake_features"]),
            "<h2>Provenance</h2>", f"<pre>{h(json.dumps(public, indent=2, default=str))}</pre>"]
    page = f"<!doctype html><html><head><meta charset='utf-8'><title>{h(title)}</title><style>{CSS}</style></head><body>{''.join(body)}</body></html>"
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(page, encoding="utf-8", errors="replace")  # the page declares utf-8, whatever the locale
    tmp.replace(path)
    return path
