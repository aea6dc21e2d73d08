"""The embedded default's processing: loops that read the event log itself, no broker."""
