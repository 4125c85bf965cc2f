"""The matrix theory of a finite group (docs/theory.md §14): rotations in SO(k), the flow and
the outcome curve (:mod:`.flow`), its survey (:mod:`.survey`)."""
