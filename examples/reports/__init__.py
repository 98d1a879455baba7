"""Report generation: pick journal entries, weave a weekly report in a background job."""
