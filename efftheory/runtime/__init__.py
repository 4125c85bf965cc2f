"""What every part of efftheory runs on, no science in it: the result store of sweeps, the
local process pool, one-BLAS-thread guards, the numba kernel cache, safe file writes, and the
name of the arithmetic a result was computed with."""
