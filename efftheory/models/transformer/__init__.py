"""The paper's transformer on addition mod p (:mod:`.kernels`)."""
