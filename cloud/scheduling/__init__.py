"""Scheduling: recurrence rules, local wall time in IANA zones, the host's busy time,
bookable times, and the jobs that keep the schedule moving (see docs/scheduling.md).

The modules here hold the rules and the database-level guarantees; the API's
services (``cloud.api.services``) call them with an organisation's scope.
"""
