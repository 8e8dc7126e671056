"""`make bench`: pingd measured against its transport floor (see __main__.py)."""
