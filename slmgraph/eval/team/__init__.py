"""Evaluation of the software team (HumanEval)."""
