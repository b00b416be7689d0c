"""multidc verify: a workload, a nemesis and the checker, meeting only in the history."""
