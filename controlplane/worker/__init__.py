"""Background work: the RQ worker, the job wrapper and the periodic scheduler."""
