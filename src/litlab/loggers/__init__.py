"""Loggers litlab adds to Lightning's (see conf/logger/)."""
