"""Analytics benchmark: ``python -m bench.analytics`` (or ``make bench-analytics``).

Writes synthetic log records into a fresh SQLite database through the real
``SqliteDatabase.write_logs`` (so the analytics rollups are kept by the same code as in
production), then times ``SqliteDatabase.analytics`` for the queries the dashboard sends, against
the 200 ms target, and checks that every answer adds up.
"""
