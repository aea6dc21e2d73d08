"""The event log: intake stores each Stripe event once, processing runs it through its handler,
and the ops side selects, replays, sweeps and backfills stored events."""
