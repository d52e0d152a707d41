"""Release readiness of the drum model: open-set scores, hard negatives, gates, comparison, report, registry."""
