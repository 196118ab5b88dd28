"""Lightning callbacks litlab adds to a run (see conf/callbacks/)."""
