"""The LLM-to-SLM conversion pipeline (issue #5): collect, curate (scrub), cluster, select,
fine-tune, promote."""
