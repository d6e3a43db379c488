"""The stub dreamer under its older name (the doubles live in doubles.py): scripts and files that import
`stub_dreamer` keep working."""
from doubles import StubDreamer, StubFactory

__all__ = ["StubDreamer", "StubFactory"]
