using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Kernels;

/// <summary>
/// Matrix products in the nn.Linear convention: weights are [out, in] and y = x @ Wᵀ. All pointers are
/// contiguous row-major float32 (weights F32 or BF16). Threads split outputs (never a reduction), so every
/// result is bit-identical for any thread count; see docs/kernels.md for the blocking and the contract.
/// <list type="bullet">
/// <item>rows ≤ <see cref="MatVecMaxRows"/> (decode): dot products that stream W once (<see cref="MatVec"/>).</item>
/// <item>otherwise: the packed, register-blocked product (<see cref="Gemm"/>), in which every output element is the
/// FMA chain over the reduction index in increasing order, independent of tiling and threads.</item>
/// </list>
/// </summary>
public static unsafe class MatMul
{
    /// <summary>
    /// Forward products with at most this many rows stream W as dot products instead of packing it: a decode step of up
    /// to 16 sequences reads each weight once, and every row's result is the same whichever rows share the call
    /// (continuous batching relies on it: a sequence's tokens do not depend on its batch).
    /// </summary>
    public const int MatVecMaxRows = 16;

    /// <summary>
    /// y[r, o] = Σ_i x[r, i] · w[o, i] for a weight handle in any <see cref="MatrixFormat"/>, sizes given by the product
    /// type <typeparamref name="P"/> (In, Out): the kernels are compiled per product with them as constants (see
    /// <see cref="IProduct"/>). x: [rows, P.In], w: [P.Out, P.In], y: [rows, P.Out] (overwritten).
    /// </summary>
    public static void Forward<P>(float* y, float* x, WeightMatrix w, int rows) where P : struct, IProduct
        => Forward<P>(y, x, w, rows, P.In, P.Out);

    /// <summary>
    /// y[r, o] = Σ_i x[r, i] · w[o, i] for a weight handle in any <see cref="MatrixFormat"/>, sizes given at run time.
    /// </summary>
    public static void Forward(float* y, float* x, WeightMatrix w, int rows, int inDim, int outDim)
        => Forward<Unsized>(y, x, w, rows, inDim, outDim);

    /// <summary>y[r, o] = Σ_i x[r, i] · w[o, i].   x: [rows, inDim], w: [outDim, inDim] (F32 or BF16), y: [rows, outDim] (overwritten).</summary>
    public static void Forward<TW>(float* y, float* x, TW* w, int rows, int inDim, int outDim) where TW : unmanaged
        => Forward<TW, Unsized>(y, x, w, rows, inDim, outDim);

    /// <summary>The one dispatch on the format per product (F32 and BF16: the float kernels; GGML blocks: <see cref="Quantization.QuantMatMul"/>).</summary>
    private static void Forward<P>(float* y, float* x, WeightMatrix w, int rows, int inDim, int outDim) where P : struct, IProduct
    {
        switch (w.Format)
        {
            case MatrixFormat.F32: Forward<float, P>(y, x, (float*)w.Data, rows, inDim, outDim); break;
            case MatrixFormat.BF16: Forward<BF16, P>(y, x, (BF16*)w.Data, rows, inDim, outDim); break;
            default: Quantization.QuantMatMul.Forward(y, x, w, rows, inDim, outDim); break;
        }
    }

    /// <summary>
    /// The float kernels: rows ≤ 16 stream W through dot products (<see cref="MatVec"/>), more rows run the packed product
    /// (<see cref="Gemm"/>). P: the product's sizes as constants, or <see cref="Unsized"/> (then inDim, outDim).
    /// </summary>
    private static void Forward<TW, P>(float* y, float* x, TW* w, int rows, int inDim, int outDim) where TW : unmanaged where P : struct, IProduct
    {
        if (typeof(TW) != typeof(float) && typeof(TW) != typeof(BF16))
            throw new NotSupportedException($"MatMul.Forward supports float and BF16 weights, not {typeof(TW).Name}.");
        Check(rows, inDim, outDim, y, x, w);
        if (rows == 0 || outDim == 0) return;
        if (rows <= MatVecMaxRows)
        {
            int items = (outDim + MatVec.OutputsPerItem - 1) / MatVec.OutputsPerItem;
            Workers.For(items, new MatVec.Job<TW, P> { Y = y, X = x, W = w, Rows = rows, In = inDim, Out = outDim }, 1);
            return;
        }
        // C = y [rows, out];  A = x (A(m, k) = x[m·in + k]);  B(k, n) = w[n, k].
        Run(new Gemm.Job<Gemm.ForwardSizes<P>>
        {
            C = y, Ldc = outDim, A = x, ARow = inDim, AK = 1,
            B = w, Ldb = inDim, Kind = typeof(TW) == typeof(float) ? Gemm.Source.Transposed : Gemm.Source.TransposedBF16,
            M = rows, N = outDim, K = inDim, Accumulate = false,
        });
    }

    /// <summary>
    /// y[r, o] += Σ_i x[r, i] · w[o, i]   (accumulates; F32 weights). Each element continues its FMA chain from y, so it is
    /// the same for any thread count. Used for the low-rank adapters' term (LoRA) added to a projection's output.
    /// </summary>
    public static void ForwardAdd(float* y, float* x, float* w, int rows, int inDim, int outDim)
    {
        Check(rows, inDim, outDim, y, x, w);
        if (rows == 0 || outDim == 0) return;
        Run(new Gemm.Job<Gemm.ForwardSizes<Unsized>>
        {
            C = y, Ldc = outDim, A = x, ARow = inDim, AK = 1,
            B = w, Ldb = inDim, Kind = Gemm.Source.Transposed,
            M = rows, N = outDim, K = inDim, Accumulate = true,
        });
    }

    /// <summary>
    /// dx[r, i] += Σ_o dy[r, o] · w[o, i] for a weight handle, sizes given by the product type <typeparamref name="P"/>
    /// (compiled with them as constants; see <see cref="IProduct"/>). The input gradient of y = x @ Wᵀ; accumulates.
    /// </summary>
    public static void BackwardInput<P>(float* dx, float* dy, WeightMatrix w, int rows) where P : struct, IProduct
        => BackwardInput<P>(dx, dy, w, rows, P.In, P.Out);

    /// <summary>
    /// dx[r, i] += Σ_o dy[r, o] · w[o, i] for a weight handle: F32 (the kernel below) or BF16 (widened exactly while packing,
    /// so the result is that of F32 weights holding the same values). A frozen BF16 base (LoRA) passes gradients this way;
    /// GGML-quantised matrices are inference-only.
    /// </summary>
    public static void BackwardInput(float* dx, float* dy, WeightMatrix w, int rows, int inDim, int outDim)
        => BackwardInput<Unsized>(dx, dy, w, rows, inDim, outDim);

    /// <summary>dx[r, i] += Σ_o dy[r, o] · w[o, i].   (the input gradient of y = x @ Wᵀ; accumulates)</summary>
    public static void BackwardInput(float* dx, float* dy, float* w, int rows, int inDim, int outDim)
        => BackwardInput<Unsized>(dx, dy, w, Gemm.Source.Rows, rows, inDim, outDim);

    private static void BackwardInput<P>(float* dx, float* dy, WeightMatrix w, int rows, int inDim, int outDim) where P : struct, IProduct
    {
        switch (w.Format)
        {
            case MatrixFormat.F32: BackwardInput<P>(dx, dy, w.Data, Gemm.Source.Rows, rows, inDim, outDim); break;
            case MatrixFormat.BF16: BackwardInput<P>(dx, dy, w.Data, Gemm.Source.RowsBF16, rows, inDim, outDim); break;
            default: throw new NotSupportedException($"Gradients do not flow through {w.Format} matrices (quantised weights are for inference): train on F32 or BF16 weights.");
        }
    }

    private static void BackwardInput<P>(float* dx, float* dy, void* w, Gemm.Source kind, int rows, int inDim, int outDim) where P : struct, IProduct
    {
        Check(rows, inDim, outDim, dx, dy, w);
        if (rows == 0 || inDim == 0) return;
        // C = dx [rows, in];  A = dy (A(m, k) = dy[m·out + k]);  B(k, n) = w[k, n] (rows of W).
        Run(new Gemm.Job<Gemm.InputGradientSizes<P>>
        {
            C = dx, Ldc = inDim, A = dy, ARow = outDim, AK = 1,
            B = w, Ldb = inDim, Kind = kind,
            M = rows, N = inDim, K = outDim, Accumulate = true,
        });
    }

    /// <summary>
    /// dw[o, i] += Σ_r dy[r, o] · x[r, i] for the product type <typeparamref name="P"/>. This one runs the shared
    /// run-time-size code: its sum runs over rows, not a model constant, so a copy per product would only fold the panel
    /// count (and cost a compiled copy of the packed product per product for nothing measurable).
    /// </summary>
    public static void BackwardWeight<P>(float* dw, float* dy, float* x, int rows) where P : struct, IProduct
        => BackwardWeight(dw, dy, x, rows, P.In, P.Out);

    /// <summary>dw[o, i] += Σ_r dy[r, o] · x[r, i].   (the weight gradient of y = x @ Wᵀ; accumulates)</summary>
    public static void BackwardWeight(float* dw, float* dy, float* x, int rows, int inDim, int outDim)
    {
        Check(rows, inDim, outDim, dw, dy, x);
        if (outDim == 0 || inDim == 0) return;
        // C = dw [out, in];  A = dyᵀ (A(m, k) = dy[k·out + m]);  B(k, n) = x[k, n].  (Sizes all at run time: the copy
        // of the packed product that the run-time-size forward products use too.)
        Run(new Gemm.Job<Gemm.ForwardSizes<Unsized>>
        {
            C = dw, Ldc = inDim, A = dy, ARow = 1, AK = outDim,
            B = x, Ldb = inDim, Kind = Gemm.Source.Rows,
            M = outDim, N = inDim, K = rows, Accumulate = true,
        });
    }

    private static void Run<Z>(Gemm.Job<Z> job) where Z : struct, Gemm.ISizes
    {
        job.Plan();
        Workers.For(job.Items, job, 1);
    }

    private static void Check(int rows, int inDim, int outDim, void* a, void* b, void* c)
    {
        if (rows < 0) throw new ArgumentOutOfRangeException(nameof(rows), rows, "rows must not be negative.");
        if (inDim < 0) throw new ArgumentOutOfRangeException(nameof(inDim), inDim, "inDim must not be negative.");
        if (outDim < 0) throw new ArgumentOutOfRangeException(nameof(outDim), outDim, "outDim must not be negative.");
        if ((long)rows * inDim * outDim != 0 && (a == null || b == null || c == null))
            throw new ArgumentNullException(a == null ? "output" : "input", "MatMul got a null pointer for a non-empty matrix.");
    }
}
