"""Grafana dashboards as code: `panels` holds what is shown, `generate` writes the JSON."""
