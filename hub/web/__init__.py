"""HTTP: health and metrics, the JSON API, the dashboard, and (later) channel webhooks."""
