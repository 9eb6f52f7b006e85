"""Deployment assets: Prometheus rules, Grafana dashboards (generated from Python)."""
