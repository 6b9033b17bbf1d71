using System.Numerics.Tensors;
using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Layers;

// ================================ RMSNorm ================================
// y = w ⊙ (x · r),   r = 1 / sqrt(mean(x²) + eps),   over the last dim n (Hidden, or HeadDim for QK-norm).
// HF order: normalise first, then multiply by the weight (no 1 + w offset). r is kept for backward.
// Rows are independent, so threads split them (Workers.ForRows); each row runs the same steps on any thread.
public static unsafe partial class Layer<S>
{
    private struct RmsNormJob : IParallelJob
    {
        public float* Y, Rstd, X, W, Residual;
        public int N;

        public void Execute(int start, int end)
        {
            int n = N;
            for (int r = start; r < end; r++)
            {
                float* xr = X + (long)r * n, yr = Y + (long)r * n;
                if (Residual != null) RowOps.Add(xr, Residual + (long)r * n, n);       // x += residual (the fused residual add)
                var xs = new ReadOnlySpan<float>(xr, n);
                var ys = new Span<float>(yr, n);
                float meanSquare = TensorPrimitives.SumOfSquares(xs) / n;
                float s = 1f / MathF.Sqrt(meanSquare + S.RmsNormEps);
                Rstd[r] = s;
                TensorPrimitives.Multiply(xs, s, ys);                                 // x · r
                TensorPrimitives.Multiply(ys, new ReadOnlySpan<float>(W, n), ys);    // w ⊙ (x · r)
            }
        }
    }

    public static void RmsNormForward(float* y, float* rstd, float* x, float* w, int rows, int n) =>
        Workers.ForRows(rows, n, new RmsNormJob { Y = y, Rstd = rstd, X = x, W = w, N = n });

    // x += residual, then y = RMSNorm(x): a block's residual add fused into the next norm (one pass over x).
    public static void AddRmsNormForward(float* y, float* rstd, float* x, float* residual, float* w, int rows, int n) =>
        Workers.ForRows(rows, 2L * n, new RmsNormJob { Y = y, Rstd = rstd, X = x, W = w, Residual = residual, N = n });

    // y += x over rows of n floats (a residual add), split by rows.
    private struct AddJob : IParallelJob
    {
        public float* Y, X;
        public int N;

        public void Execute(int start, int end) => RowOps.Add(Y + (long)start * N, X + (long)start * N, (end - start) * N);
    }

    public static void ResidualAdd(float* y, float* x, int rows, int n) => Workers.ForRows(rows, n, new AddJob { Y = y, X = x, N = n });

    // With g = dy ⊙ w:   dx += r · g − x · r³ · mean(g ⊙ x)      dw += Σ_rows dy ⊙ x · r
    // dx is split by rows; dw by blocks of NormColumns columns, each block summing the rows in row order,
    // so every dw element is the same chain of additions for any thread count.
    private const int NormColumns = 32;

    private struct RmsNormBackwardJob : IParallelJob
    {
        public float* DX, DY, X, W, Rstd;
        public int N;

        public void Execute(int start, int end)
        {
            int n = N;
            var gw = RowOps.ScratchRow(n);
            var ws = new ReadOnlySpan<float>(W, n);
            for (int r = start; r < end; r++)
            {
                var xs = new ReadOnlySpan<float>(X + (long)r * n, n);
                var dys = new ReadOnlySpan<float>(DY + (long)r * n, n);
                var dxs = new Span<float>(DX + (long)r * n, n);
                float s = Rstd[r];
                TensorPrimitives.Multiply(dys, ws, gw);                               // g = dy ⊙ w
                float c = s * s * s * TensorPrimitives.Dot(gw, xs) / n;               // r³ · mean(g ⊙ x)
                TensorPrimitives.MultiplyAdd(gw, s, dxs, dxs);                        // dx += r · g
                TensorPrimitives.MultiplyAdd(xs, -c, dxs, dxs);                       // dx −= c · x
            }
        }
    }

    private struct RmsNormWeightGradientJob : IParallelJob
    {
        public float* DW, DY, X, Rstd;
        public int N, Rows;

        public void Execute(int start, int end)
        {
            int n = N, c0 = start * NormColumns, width = Math.Min(n, end * NormColumns) - c0;
            var dyx = RowOps.ScratchRow(width);
            var dws = new Span<float>(DW + c0, width);
            for (int r = 0; r < Rows; r++)                                            // rows in order
            {
                long offset = (long)r * n + c0;
                TensorPrimitives.Multiply(new ReadOnlySpan<float>(DY + offset, width), new ReadOnlySpan<float>(X + offset, width), dyx);
                TensorPrimitives.MultiplyAdd(dyx, Rstd[r], dws, dws);                 // dw += dy ⊙ x · r
            }
        }
    }

    // dw null: a frozen weight (LoRA), only dx.
    public static void RmsNormBackward(float* dx, float* dw, float* dy, float* x, float* w, float* rstd, int rows, int n)
    {
        Workers.ForRows(rows, 2L * n, new RmsNormBackwardJob { DX = dx, DY = dy, X = x, W = w, Rstd = rstd, N = n });
        if (dw != null)
            Workers.ForRows((n + NormColumns - 1) / NormColumns, (long)rows * NormColumns,
                            new RmsNormWeightGradientJob { DW = dw, DY = dy, X = x, Rstd = rstd, N = n, Rows = rows });
    }
}
