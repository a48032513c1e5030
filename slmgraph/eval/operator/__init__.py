"""The operator on MiniWoB++: systems, episodes, scores and the report."""
