"""Write the Grafana dashboards (deploy/grafana/dashboards/*.json) from `panels.py`.

Built with grafana-foundation-sdk, Grafana's own typed builders, so the JSON follows the
dashboard schema; serialised with sorted keys so regeneration is byte for byte.

    python -m deploy.grafana.generate          # rewrite the JSON files
    python -m deploy.grafana.generate --check  # exit 1 if a committed file is out of date
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import (
    bargauge,
    heatmap,
    prometheus,
    stat,
    statetimeline,
    table,
    timeseries,
)
from grafana_foundation_sdk.builders import dashboard as gd
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

from deploy.grafana.panels import DASHBOARDS, Dashboard, Panel, Query

OUT = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="prometheus")
"""The provisioned datasource (provisioning/datasources/prometheus.yml) has this uid."""

_BUILDERS: dict[str, Callable[[], Any]] = {
    "timeseries": timeseries.Panel,
    "stat": stat.Panel,
    "bargauge": bargauge.Panel,
    "heatmap": heatmap.Panel,
    "table": table.Panel,
    "state-timeline": statetimeline.Panel,
}


def _target(query: Query, ref_id: str) -> prometheus.Dataquery:
    t = prometheus.Dataquery().expr(query.expr).ref_id(ref_id).datasource(DATASOURCE)
    if query.legend:
        t = t.legend_format(query.legend)
    if query.heatmap:
        t = t.format(PromQueryFormat.HEATMAP)
    elif query.instant:
        t = t.instant()
        if query.legend == "":
            t = t.format(PromQueryFormat.TABLE)
    else:
        t = t.range()
    return t


def _panel(spec: Panel, panel_id: int) -> Builder[dm.Panel]:
    p: Any = _BUILDERS[spec.kind]().id(panel_id).title(spec.title).datasource(DATASOURCE)
    p = p.span(spec.width).height(spec.height)
    if spec.description:
        p = p.description(spec.description)
    if spec.unit:
        p = p.unit(spec.unit)
    if spec.min is not None:
        p = p.min(spec.min)
    if spec.max is not None:
        p = p.max(spec.max)
    steps = [dm.Threshold(None, "green")] + [dm.Threshold(v, c) for v, c in spec.thresholds]
    p = p.thresholds(gd.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE).steps(steps))
    if spec.mappings:
        options = {
            value: dm.ValueMappingResult(text=text, color=colour, index=i)
            for i, (value, text, colour) in enumerate(spec.mappings)
        }
        p = p.mappings([dm.ValueMap(options)])
    for i, query in enumerate(spec.queries):
        p = p.with_target(_target(query, chr(ord("A") + i)))
    built: Builder[dm.Panel] = p
    return built


def build(spec: Dashboard) -> dm.Dashboard:
    d = (
        gd.Dashboard(spec.title)
        .uid(spec.uid)
        .description(spec.description)
        .tags(list(spec.tags))
        .readonly()
        .time("now-1h", "now")
        .refresh("10s")
        .timezone("browser")
    )
    panel_id = 1
    for row in spec.rows:
        d = d.with_row(gd.Row(row.title).id(panel_id))
        panel_id += 1
        for panel in row.panels:
            d = d.with_panel(_panel(panel, panel_id))
            panel_id += 1
    return d.build()


def render(spec: Dashboard) -> str:
    """The dashboard's JSON text, exactly as committed."""
    data = json.loads(json.dumps(build(spec), cls=JSONEncoder))
    for panel in data["panels"]:
        if panel.get("options", {}) is None:
            panel["options"] = {}  # the SDK leaves unset options null; Grafana expects an object
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def rendered() -> dict[Path, str]:
    return {OUT / f"{spec.slug}.json": render(spec) for spec in DASHBOARDS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true", help="only compare with the files")
    args = parser.parse_args(argv)
    stale = []
    for path, text in rendered().items():
        current = path.read_text(encoding="utf-8") if path.exists() else None
        if current == text:
            continue
        if args.check:
            stale.append(path)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path}", file=sys.stderr)
    for path in stale:
        print(f"{path}: out of date; run python -m deploy.grafana.generate", file=sys.stderr)
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
