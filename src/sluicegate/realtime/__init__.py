"""Realtime WebSocket sessions: relayed frame by frame, metered per response, logged as one record."""
