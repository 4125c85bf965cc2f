"""The circle theory of addition mod p (docs/theory.md §13): phases on a circle, the ring and
its flow (:mod:`.flow`), the ring probability survey (:mod:`.survey`)."""
