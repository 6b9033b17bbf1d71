using System.Numerics.Tensors;
using Qwen3Gen.Threading;

namespace Qwen3Gen;

/// <summary>
/// Matrix products in the nn.Linear convention: weights are [out, in] and y = x @ Wᵀ.
/// Threads split outputs (never a reduction), so every result is bit-identical for any thread count.
/// </summary>
public static unsafe class MatMul
{
    /// <summary>y[r, o] = Σ_i x[r, i] · w[o, i].   x: [rows, inDim], w: [outDim, inDim], y: [rows, outDim] (overwritten).</summary>
    public static void Forward<TW>(float* y, float* x, TW* w, int rows, int inDim, int outDim) where TW : unmanaged
    {
        Workers.For(outDim, new ForwardJob<TW> { Y = y, X = x, W = w, Rows = rows, In = inDim, Out = outDim });
    }

    /// <summary>dx[r, i] += Σ_o dy[r, o] · w[o, i].   (the input gradient of y = x @ Wᵀ)</summary>
    public static void BackwardInput(float* dx, float* dy, float* w, int rows, int inDim, int outDim)
    {
        Workers.For(rows, new BackwardInputJob { DX = dx, DY = dy, W = w, In = inDim, Out = outDim });
    }

    /// <summary>dw[o, i] += Σ_r dy[r, o] · x[r, i].   (the weight gradient of y = x @ Wᵀ)</summary>
    public static void BackwardWeight(float* dw, float* dy, float* x, int rows, int inDim, int outDim)
    {
        Workers.For(outDim, new BackwardWeightJob { DW = dw, DY = dy, X = x, Rows = rows, In = inDim, Out = outDim });
    }

    private struct ForwardJob<TW> : IParallelJob where TW : unmanaged
    {
        public float* Y, X; public TW* W; public int Rows, In, Out;

        public void Execute(int start, int end)
        {
            float* row = stackalloc float[typeof(TW) == typeof(float) ? 1 : In];
            for (int o = start; o < end; o++)
            {
                ReadOnlySpan<float> wRow;
                if (typeof(TW) == typeof(float)) wRow = new ReadOnlySpan<float>((float*)W + (long)o * In, In);
                else
                {
                    BF16* b = (BF16*)W + (long)o * In;
                    for (int i = 0; i < In; i++) row[i] = b[i].ToSingle();
                    wRow = new ReadOnlySpan<float>(row, In);
                }
                for (int r = 0; r < Rows; r++)
                    Y[(long)r * Out + o] = TensorPrimitives.Dot(new ReadOnlySpan<float>(X + (long)r * In, In), wRow);
            }
        }
    }

    private struct BackwardInputJob : IParallelJob
    {
        public float* DX, DY, W; public int In, Out;

        public void Execute(int start, int end)
        {
            for (int r = start; r < end; r++)
            {
                var dx = new Span<float>(DX + (long)r * In, In);
                for (int o = 0; o < Out; o++)
                {
                    float g = DY[(long)r * Out + o];
                    if (g == 0f) continue;
                    var wRow = new ReadOnlySpan<float>(W + (long)o * In, In);
                    TensorPrimitives.MultiplyAdd(wRow, g, dx, dx);
                }
            }
        }
    }

    private struct BackwardWeightJob : IParallelJob
    {
        public float* DW, DY, X; public int Rows, In, Out;

        public void Execute(int start, int end)
        {
            for (int o = start; o < end; o++)
            {
                var dw = new Span<float>(DW + (long)o * In, In);
                for (int r = 0; r < Rows; r++)
                {
                    float g = DY[(long)r * Out + o];
                    if (g == 0f) continue;
                    TensorPrimitives.MultiplyAdd(new ReadOnlySpan<float>(X + (long)r * In, In), g, dw, dw);
                }
            }
        }
    }
}
