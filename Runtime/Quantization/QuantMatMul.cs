using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Qwen3Gen.Threading;

namespace Qwen3Gen.Quantization;

/// <summary>
/// y[r, o] = Σ_i x[r, i] · w[o, i] with w in GGML blocks (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), computed on the blocks as
/// llama.cpp's CPU backend does: each activation row is quantised to int8 in blocks of 32 (scale d = max|x| / 127,
/// q = round(x / d), the block's integer sum kept for the mins), each weight row is unpacked once per work item to
/// int8 quants with a float scale per 16 elements and a float min per 32, and every product is integer:
/// <code>
///   y = Σ_b d_b · ( s_2b · Σ_{16} w·q  +  s_2b+1 · Σ_{16} w·q  −  min_b · Σ_{32} q )
/// </code>
/// over the 32-element blocks b in order. Integer sums are exact, so the Vector256 and scalar paths give the same
/// bits; each output is computed by one thread in a fixed order, so results do not depend on the thread count.
/// The activation buffers grow once per calling thread and are reused: a step allocates nothing.
/// </summary>
public static unsafe class QuantMatMul
{
    /// <summary>Outputs per work item (weight rows unpacked and reused across every activation row).</summary>
    public const int OutputsPerItem = 16;

    [ThreadStatic] private static NativeBuffer<byte>? _scratch;

    public static void Forward(float* y, float* x, WeightMatrix w, int rows, int inDim, int outDim)
    {
        if (!w.IsQuantized) throw new ArgumentException($"QuantMatMul multiplies quantised matrices, not {w.Format}.", nameof(w));
        int block = WeightMatrix.BlockSize(w.Format);
        if (inDim % block != 0) throw new ArgumentException($"{w.Format}: inDim {inDim} is not a multiple of the block size {block}.", nameof(inDim));
        if (rows == 0 || outDim == 0) return;
        int blocks = inDim / 32;
        // Activation scratch: rows × inDim int8, rows × blocks float scales, rows × blocks int sums.
        long need = (long)rows * inDim + 8L * rows * blocks + 64;
        if (_scratch is null || _scratch.Length < need)
        {
            _scratch?.Dispose();
            _scratch = new NativeBuffer<byte>(need);
        }
        sbyte* xq = (sbyte*)_scratch.Pointer;
        float* xd = (float*)(_scratch.Pointer + ((long)rows * inDim + 63) / 64 * 64);
        int* xs = (int*)(xd + (long)rows * blocks);
        for (int r = 0; r < rows; r++)
            QuantizeRow(x + (long)r * inDim, xq + (long)r * inDim, xd + (long)r * blocks, xs + (long)r * blocks, blocks);
        int items = (outDim + OutputsPerItem - 1) / OutputsPerItem;
        Workers.For(items, new Job { Y = y, Xq = xq, Xd = xd, Xs = xs, W = w, Rows = rows, In = inDim, Out = outDim }, 1);
    }

    /// <summary>Blocks of 32: d = max|x| / 127, q = x / d rounded half away from zero (0 for an all-zero block), s = Σ q.</summary>
    internal static void QuantizeRow(float* x, sbyte* q, float* d, int* s, int blocks)
    {
        for (int b = 0; b < blocks; b++)
        {
            float* xb = x + 32 * b;
            float amax = 0;
            for (int i = 0; i < 32; i++) amax = Math.Max(amax, Math.Abs(xb[i]));
            float scale = amax / 127f;
            float inv = scale != 0 ? 1f / scale : 0f;
            int sum = 0;
            for (int i = 0; i < 32; i++)
            {
                int v = (int)MathF.Round(xb[i] * inv, MidpointRounding.AwayFromZero);
                v = Math.Clamp(v, -127, 127);
                q[32 * b + i] = (sbyte)v;
                sum += v;
            }
            d[b] = scale;
            s[b] = sum;
        }
    }

    private struct Job : IParallelJob
    {
        public float* Y, Xd; public sbyte* Xq; public int* Xs; public WeightMatrix W; public int Rows, In, Out;

        public void Execute(int start, int end)
        {
            int blocks = In / 32;
            sbyte* wq = stackalloc sbyte[In];
            float* scale = stackalloc float[2 * blocks];
            float* min = stackalloc float[blocks];
            long rowBytes = WeightMatrix.RowBytes(W.Format, In);
            for (int o = start * OutputsPerItem, o1 = Math.Min(Out, end * OutputsPerItem); o < o1; o++)
            {
                Unpack.Row(W.Format, W.Data + o * rowBytes, wq, scale, min, In);
                for (int r = 0; r < Rows; r++)
                    Y[(long)r * Out + o] = Dot(wq, scale, min, Xq + (long)r * In, Xd + (long)r * blocks, Xs + (long)r * blocks, blocks);
            }
        }
    }

    /// <summary>Σ_b d_b · (s_2b · I_2b + s_2b+1 · I_2b+1 − min_b · S_b), blocks in order.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static float Dot(sbyte* w, float* scale, float* min, sbyte* q, float* d, int* s, int blocks)
    {
        float acc = 0;
        for (int b = 0; b < blocks; b++)
        {
            Dot32(w + 32 * b, q + 32 * b, out int lo, out int hi);
            float block = scale[2 * b] * lo + scale[2 * b + 1] * hi - min[b] * s[b];
            acc += d[b] * block;
        }
        return acc;
    }

    /// <summary>The integer dot products of the two 16-element halves of a 32-element block (exact on every path).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void Dot32(sbyte* a, sbyte* b, out int lo, out int hi)
    {
        if (Avx2.IsSupported)
        {
            // Widen to 16-bit and multiply-add pairs: 8 int32 partial sums per half; sums of integers are exact.
            var a0 = Avx2.ConvertToVector256Int16(Sse2.LoadVector128(a));
            var b0 = Avx2.ConvertToVector256Int16(Sse2.LoadVector128(b));
            var a1 = Avx2.ConvertToVector256Int16(Sse2.LoadVector128(a + 16));
            var b1 = Avx2.ConvertToVector256Int16(Sse2.LoadVector128(b + 16));
            lo = Vector256.Sum(Avx2.MultiplyAddAdjacent(a0, b0));
            hi = Vector256.Sum(Avx2.MultiplyAddAdjacent(a1, b1));
            return;
        }
        lo = 0;
        hi = 0;
        for (int i = 0; i < 16; i++) lo += a[i] * b[i];
        for (int i = 16; i < 32; i++) hi += a[i] * b[i];
    }
}
