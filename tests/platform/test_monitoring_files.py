"""What an operator deploys beside the portal (docs/monitoring/) is checked by Prometheus' own
tools: the alert rules by ``promtool check rules`` and by their unit tests (``promtool test
rules``: each fires on its series only after its ``for``), the scrape configuration by
``promtool check config``, and every query of the Grafana dashboard by a real Prometheus, which
refuses a query it cannot parse. Without promtool or prometheus these tests fail.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml
from support.prometheus_server import PrometheusServer, promtool

MONITORING = Path(__file__).resolve().parents[2] / "docs" / "monitoring"
RULES = MONITORING / "portal-alerts.yml"
DASHBOARD = MONITORING / "grafana-dashboard.json"


def test_the_alert_rules_pass_promtool():
    checked = promtool("check", "rules", str(RULES))
    assert checked.returncode == 0, checked.stdout
    assert "SUCCESS: 8 rules found" in checked.stdout


def test_each_alert_rule_fires_when_it_should_and_not_before():
    tested = promtool("test", "rules", "portal-alerts.test.yml", cwd=MONITORING)
    assert tested.returncode == 0, tested.stdout
    # Every rule of the file has a unit test of its own.
    rules = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    tests = yaml.safe_load((MONITORING / "portal-alerts.test.yml").read_text())["tests"]
    covered = {t["alertname"] for case in tests for t in case["alert_rule_test"]}
    assert rules == covered


def test_the_example_scrape_configuration_is_valid():
    checked = promtool("check", "config", "prometheus.yml", cwd=MONITORING)
    assert checked.returncode == 0, checked.stdout


def _dashboard_queries() -> list[str]:
    dashboard = json.loads(DASHBOARD.read_text())
    return [t["expr"] for p in dashboard["panels"] for t in p["targets"]]


def test_the_dashboard_is_grafana_json_with_a_datasource_variable():
    dashboard = json.loads(DASHBOARD.read_text())
    assert dashboard["uid"] and dashboard["panels"]
    names = {v["name"] for v in dashboard["templating"]["list"]}
    assert {"datasource", "job"} <= names
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert panel["targets"], panel["title"]


@pytest.fixture(scope="module")
def prometheus():
    with PrometheusServer.start({}) as server:
        yield server


@pytest.mark.parametrize("expr", _dashboard_queries())
def test_every_dashboard_query_is_one_prometheus_accepts(prometheus, expr):
    # Grafana's variables as Grafana would fill them in.
    query = expr.replace("$__rate_interval", "1m").replace('"$job"', '"portal"')
    assert "$" not in re.sub(r"\{\{.*?\}\}", "", query), query
    prometheus.query(query)  # raises on a query Prometheus cannot parse


TOKEN = "t" * 40


@pytest.fixture
def scraped(app_config):
    app_config["METRICS_TOKEN"] = TOKEN


def test_every_metric_the_rules_and_the_dashboard_read_is_one_the_portal_serves(scraped, app):
    answer = app.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 200
    served = set(re.findall(r"^# TYPE (portal_\w+) ", answer.get_data(as_text=True), re.M))
    wanted = set(re.findall(r"\b(portal_\w+)", RULES.read_text() + DASHBOARD.read_text()))
    wanted = {re.sub(r"_(bucket|count|sum)$", "", name) for name in wanted}
    assert wanted and wanted <= served, wanted - served
