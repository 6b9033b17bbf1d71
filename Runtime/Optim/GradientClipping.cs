using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Optim;

/// <summary>
/// Global-norm gradient clipping, as torch.nn.utils.clip_grad_norm_(params, max_norm):
/// <code>
///   norm = √(Σ g²)  over every gradient element
///   coef = max_norm / (norm + 1e-6);  if coef &lt; 1: g ← g · coef
/// </code>
/// The sum of squares is accumulated in double over fixed chunks whose boundaries depend only on the
/// element count, and the chunk sums are added serially in order: the norm is bit-identical for any
/// thread count. (torch sums in float32 per tensor, then takes the norm of the norms; the double sum is
/// the more exact value of the same quantity.) A non-finite norm is returned without scaling, so the
/// caller can skip the step (torch would multiply every gradient by NaN).
/// </summary>
public static unsafe class GradientClipping
{
    /// <summary>The number of chunks is at most this, so the chunk sums fit on the stack.</summary>
    private const int MaxChunks = 256;
    private const int MinChunkElements = 1 << 14;

    /// <summary>√(Σ g²) over <paramref name="count"/> elements, in double.</summary>
    public static double GlobalNorm(float* gradients, long count)
    {
        if (gradients == null) throw new ArgumentNullException(nameof(gradients));
        if (count < 0) throw new ArgumentOutOfRangeException(nameof(count), count, "Count must not be negative.");
        if (count == 0) return 0;

        long chunk = ChunkSize(count);
        int chunks = (int)((count + chunk - 1) / chunk);
        double* partial = stackalloc double[chunks];
        Workers.For(chunks, new SumSquaresJob { G = gradients, Count = count, Chunk = chunk, Partial = partial });
        double sum = 0;
        for (int c = 0; c < chunks; c++) sum += partial[c];
        return Math.Sqrt(sum);
    }

    /// <summary>Clips the global norm to <paramref name="maxNorm"/> in place; returns the norm before clipping.</summary>
    public static double ClipGlobalNorm(float* gradients, long count, double maxNorm)
    {
        if (!(maxNorm > 0) || double.IsInfinity(maxNorm))
            throw new ArgumentOutOfRangeException(nameof(maxNorm), maxNorm, "The maximum gradient norm must be a finite number > 0.");
        double norm = GlobalNorm(gradients, count);
        if (!double.IsFinite(norm)) return norm;
        double coef = maxNorm / (norm + 1e-6);
        if (coef < 1)
        {
            long chunk = ChunkSize(count);
            int chunks = (int)((count + chunk - 1) / chunk);
            Workers.For(chunks, new ScaleJob { G = gradients, Count = count, Chunk = chunk, Factor = (float)coef });
        }
        return norm;
    }

    public static double GlobalNorm(NativeBuffer<float> gradients) => GlobalNorm(gradients.Pointer, gradients.Length);

    public static double ClipGlobalNorm(NativeBuffer<float> gradients, double maxNorm) => ClipGlobalNorm(gradients.Pointer, gradients.Length, maxNorm);

    public static double GlobalNorm(ReadOnlySpan<float> gradients)
    {
        if (gradients.IsEmpty) return 0;
        fixed (float* g = gradients) return GlobalNorm(g, gradients.Length);
    }

    public static double ClipGlobalNorm(Span<float> gradients, double maxNorm)
    {
        if (gradients.IsEmpty) return 0;
        fixed (float* g = gradients) return ClipGlobalNorm(g, gradients.Length, maxNorm);
    }

    /// <summary>Chunk length from the count alone (never from the thread count): at most <see cref="MaxChunks"/> chunks.</summary>
    private static long ChunkSize(long count) => Math.Max(MinChunkElements, (count + MaxChunks - 1) / MaxChunks);

    /// <summary>Σ g² over one chunk in double: widened vector lanes (<see cref="ISimdDouble{TV, TD}"/>), a fixed lane sum, then the tail.</summary>
    internal static double SumSquares(float* g, int n) => SimdLevel.Current switch
    {
        SimdLevel.V512 => SumSquares<Simd512, Vector512<float>, Vector512<double>>(g, n),
        SimdLevel.V256 => SumSquares<Simd256, Vector256<float>, Vector256<double>>(g, n),
        SimdLevel.V128 => SumSquares<Simd128, Vector128<float>, Vector128<double>>(g, n),
        _ => SumSquares<Scalar, float, double>(g, n),
    };

    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static double SumSquares<S, TV, TD>(float* g, int n) where S : struct, ISimdDouble<TV, TD> where TV : unmanaged where TD : unmanaged
    {
        int w = S.Width, i = 0;
        TD acc = S.ZeroDouble;
        for (; i <= n - w; i += w) acc = S.AddSquares(S.Load(g + i), acc);
        double sum = S.SumDouble(acc);
        for (; i < n; i++) sum += (double)g[i] * g[i];             // exact square: the same bits as a fused multiply-add
        return sum;
    }

    private struct SumSquaresJob : IParallelJob
    {
        public float* G; public long Count, Chunk; public double* Partial;

        public void Execute(int start, int end)
        {
            for (int c = start; c < end; c++)
            {
                long s = c * Chunk;
                Partial[c] = SumSquares(G + s, (int)Math.Min(Chunk, Count - s));
            }
        }
    }

    private struct ScaleJob : IParallelJob
    {
        public float* G; public long Count, Chunk; public float Factor;

        public void Execute(int start, int end)
        {
            for (int c = start; c < end; c++)
            {
                long s = c * Chunk;
                var span = new Span<float>(G + s, (int)Math.Min(Chunk, Count - s));
                TensorPrimitives.Multiply(span, Factor, span);
            }
        }
    }
}
