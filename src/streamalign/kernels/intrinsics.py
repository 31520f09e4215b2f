"""A machine instruction numba does not expose, as an LLVM intrinsic for the kernels.

:func:`stream` copies whole 64-byte lines with non-temporal stores (``vmovntps`` on AVX-512):
the direction bits of a traceback go to memory without first reading each cache line in (what
a plain store does) and without pushing the column state out of the cache. It is plain LLVM
IR (``store <64 x i8> ..., !nontemporal``): on a machine without such stores LLVM emits
ordinary ones.
"""

from __future__ import annotations

from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

_LINE = 64


@intrinsic
def stream(typing_context, destination, offset, source, count):
    """Copy ``count`` bytes (a multiple of 64) of ``source`` to ``destination[offset:]``,
    whose address must be a multiple of 64, with non-temporal stores.

    Example:
        >>> import numpy as np
        >>> from numba import njit
        >>> @njit
        ... def copy(destination, offset, source):
        ...     stream(destination, offset, source, np.uint64(source.shape[0]))
        >>> buffer = np.zeros(256, np.uint8)
        >>> aligned = buffer[-buffer.ctypes.data % 64 :][:128]
        >>> copy(aligned, np.uint64(64), np.arange(64, dtype=np.uint8))
        >>> int(aligned[64:].sum()), int(aligned[:64].sum())
        (2016, 0)
    """
    signature = types.void(destination, offset, source, count)

    def codegen(context, builder, signature, arguments):
        target, start, row, size = arguments
        target_array = context.make_array(signature.args[0])(context, builder, target)
        row_array = context.make_array(signature.args[2])(context, builder, row)
        word = ir.IntType(64)
        line = ir.VectorType(ir.IntType(8), _LINE)
        nontemporal = builder.module.add_metadata([ir.Constant(ir.IntType(32), 1)])
        with cgutils.for_range(builder, builder.udiv(size, ir.Constant(word, _LINE))) as loop:
            position = builder.mul(loop.index, ir.Constant(word, _LINE))
            read = builder.bitcast(builder.gep(row_array.data, [position]), line.as_pointer())
            written = builder.bitcast(
                builder.gep(target_array.data, [builder.add(start, position)]),
                line.as_pointer(),
            )
            store = builder.store(builder.load(read, align=1), written, align=_LINE)
            store.set_metadata("nontemporal", nontemporal)
        return context.get_dummy_value()

    return signature, codegen
