"""Element types the simulator knows and their storage sizes in bits."""

DTYPE_BITS = {"fp32": 32, "bf16": 16, "fp16": 16, "fp8": 8, "int8": 8, "int4": 4, "fp4": 4}
DTYPES = tuple(DTYPE_BITS)


def nbytes(elements: int, dtype: str) -> int:
    """Bytes that `elements` values of `dtype` occupy (int4 and fp4 pack two per byte, rounded up)."""
    return -(-elements * DTYPE_BITS[dtype] // 8)
