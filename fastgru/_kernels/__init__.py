"""Numba kernels: the GRU cell, the recurrence over whole sequences, and BPTT.

A private package; each module says what it holds, and imports only the
ones above it in this list (no cycles):

``tiles``           the tiles of the products that read ``b``, written as
                    LLVM intrinsics (:func:`_fma_tile`), and their strips.
``products``        the matrix products: the per-step product (:func:`matmul`
                    and its variants) and its routines (:func:`gemm_nn` and
                    :func:`gemm_tn_add`, in the tiles of ``tiles``, and the
                    row loops of :func:`gemm_nt`), and the helpers that
                    choose between them and BLAS.
``launch``          the parallel launcher (:func:`run_parallel`, which calls
                    a ``*_block`` kernel through its C wrapper), the rows of
                    a block (:func:`block_rows`), and the layout copies
                    (:func:`swap_block`, :func:`transpose_block`,
                    :func:`refresh_copy`).
``cell``            the cell modes and their shape rules (widths, weight
                    rows), one step's forward and its backward side by
                    side, bias folding and the projection-plus-bias loop,
                    and the kernels' copies for one mode. (products)
``large_products``  the products over all T*B rows at once, one row block
                    per call: the input projection, ``dx`` and the weight
                    gradients after the time loop.  (products, launch, cell)
``sequence``        the time loops of a row block (forward, BPTT) and the
                    chunked weight gradients.  (products, launch, cell)
``stack``           one call through every layer of a stack: the streaming
                    step and one sequence's inference.
                    (products, launch, cell)
``optim``           the optimisers' in-place updates (Adam, SGD).
``panel``           the forecaster's loops over the series of a panel (the
                    running sums of each series' absolute differences).
``theta``           the optimised Theta model's fit (a Nelder-Mead search
                    per series), which the forecaster mixes in.

Everything works on plain arrays in one memory layout, chosen once at the
boundary (:mod:`fastgru._engine`):

* ``xproj`` ``(T, B, G*H)``: time-major input projections ``W x + b`` of every
  step, computed before the recurrence as one large matrix product
  (:func:`large_products.project_block`). Every additive bias is folded into
  it; gate blocks are contiguous.
* ``U`` ``(Gh*H, H)``: the recurrent weights exactly as stored in the layer's
  parameters (row blocks per gate), so nothing is repacked per call.
* ``b_hn`` ``(H,)``: the one bias that cannot be folded (the "torch" variant
  multiplies it by the reset gate).

Each blocked kernel is a serial body for one row block, ``*_block(block,
n_blocks, ...)`` (its rows from :func:`launch.block_rows`). The engine calls
it directly when there is one block or one thread, and otherwise hands it to
:func:`launch.run_parallel`, the one ``prange`` kernel, as a function
pointer. BLAS inside runs single-threaded (the caller limits BLAS to one
thread), so Numba's threads are the only ones working.

Numba options come from :mod:`fastgru._config` only. The kernel cache
(:mod:`fastgru._cache`) is keyed on a hash of every kernel source file, so
an edit to any of them compiles every kernel again.

Compile time (from an empty cache) grows with each copy of code a kernel
holds: a kernel that calls another links the callee's code and LLVM
optimises and generates it again inside the caller. So
``backward_block`` calls the chunk's weight gradients from one place, and
``gemm_nn`` and ``gemm_tn_add`` emit their strips of tiles themselves
(``tiles._fma_strip``, an intrinsic: no helper compiled apart and linked
into them).
The kernels that run a product once per block or chunk of rows (the input
projection, the chunked weight gradients) call ``gemm_nn`` and
``gemm_tn_add`` through their compiled C wrappers, at addresses the engine
passes (``products.product_address``): the tiles, the largest code of all,
are not generated again inside them. The per-step product links
``gemm_nn`` and ``gemm_row`` (through an address a step of a few rows
took up to 8% longer) and, in the time loops, calls ``gemm_nt`` and
BLAS's gemv (``nt_product``) at an address that is 0 where they never run
(``matmul_nt_at``, inlined into the cells), so that a first forward of a
small hidden size compiles neither; the copies for blocks of one row
(``matmul_row_at``) do not link ``gemm_nn``. The cells take the product
kernel as an argument (the streaming step passes ``matmul_stored``, the
gufunc ``matmul``). ``cell_backward`` is
inlined into ``backward_block``, its one caller. The kernels that run the
cell have copies for the default variant's mode (``cell.copy_for_mode``:
the mode a constant, the other modes' code dropped), which the engine
picks by mode. ``forward_block`` keeps two copies of the inlined cell, one
per loop: one call shared by both loops cost a batch-1 forward 3-4%
(measured).

Importers take names from the module that defines them; this file exports
nothing.
"""
