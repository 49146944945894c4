"""The chaos soak, CI-sized (issue 21): about 300 photos through 3 worker hosts and 2 APIs, the
bucket store and webhooks on, a fault every 6 s, each kind once in every 8 (harness/chaos.py), then
the audit. `python -m bench --only chaos` is the full soak (10,000 photos)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from harness.chaos import FAULTS, SoakPlan, run_soak
from harness.hosts import Lan
from harness.imageserver import ImageServer
from harness.service_processes import REPO

PLAN = SoakPlan(
    photos=300,
    fault_every=(6.0, 6.0),
    host_gone_s=8.0,
    s3_down_s=6.0,
    receiver_down_s=8.0,
    post_batch=20,
    post_every_s=5.5,  # 15 batches over 80 s: all 8 kinds of fault land while photos still come
    min_faults=len(FAULTS),
    timeout_s=300.0,
)


def test_a_ci_sized_chaos_soak_loses_strands_and_doubles_nothing(
    lan: Lan, service_env: dict[str, str], image_server: ImageServer, tmp_path: Path
) -> None:
    report = run_soak(lan, service_env, image_server, tmp_path, PLAN)
    artifacts = REPO / "test-artifacts"
    artifacts.mkdir(exist_ok=True)
    (artifacts / "chaos-ci.json").write_text(json.dumps(asdict(report), indent=2, sort_keys=True))
    assert set(report.faults) == set(FAULTS), report.faults
    assert report.completed + report.failed_as_meant == report.photos, report
    assert report.clean(), report
