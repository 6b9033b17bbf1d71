using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Qwen3Gen.Kernels;
using Qwen3Gen.Threading;
using Qwen3Gen.Models;

namespace Qwen3Gen.Quantization;

/// <summary>
/// y[r, o] = Σ_i x[r, i] · w[o, i] with w in GGML blocks (Q8_0, Q4_0, Q4_K, Q5_K, Q6_K), computed on the blocks as
/// llama.cpp's CPU backend does: each activation row is quantised to int8 in blocks of 32 (scale d = max|x| / 127,
/// q = round(x / d) half to even, and the sums G of every 4 consecutive q, used for the mins and the offsets), then
/// every weight row is multiplied straight from its stored blocks with integer dot products and one float
/// multiply-add per 8 lanes and block (<see cref="QuantDot"/>, which defines the exact order of the operations).
/// Each output is computed by one thread in that fixed order, whatever rows share the call, so results do not depend
/// on the thread count or the batch; the 512-bit, 256-bit and scalar paths give the same bits. The activation buffers
/// grow once per calling thread and are reused: a step allocates nothing.
/// </summary>
public static unsafe class QuantMatMul
{
    /// <summary>Outputs per work item.</summary>
    public const int OutputsPerItem = 16;

    [ThreadStatic] private static NativeBuffer<byte>? _scratch;

    /// <summary>The instruction path the products run on here, for reports (e.g. "V512 (AVX-512BW)").</summary>
    public static string PathName => QuantDot.Best switch
    {
        QuantPath.V512 => "V512 (AVX-512BW vpmaddubsw + vpmaddwd)",
        QuantPath.V256 => System.Runtime.Intrinsics.X86.AvxVnni.IsSupported ? "V256 (AVX-VNNI vpdpbusd)" : "V256 (AVX2 vpmaddubsw + vpmaddwd)",
        _ => "scalar",
    } + (System.Runtime.Intrinsics.X86.AvxVnni.IsSupported ? ", AVX-VNNI present" : ", no AVX-VNNI");

    public static void Forward(float* y, float* x, WeightMatrix w, int rows, int inDim, int outDim) =>
        Forward(y, x, w, rows, inDim, outDim, QuantDot.Best);

    /// <summary>The product on a chosen instruction path (tests compare the paths bit for bit).</summary>
    internal static void Forward(float* y, float* x, WeightMatrix w, int rows, int inDim, int outDim, QuantPath path)
    {
        if (!w.IsQuantized) throw new ArgumentException($"QuantMatMul multiplies quantised matrices, not {w.Format}.", nameof(w));
        int block = WeightMatrix.BlockSize(w.Format);
        if (inDim % block != 0) throw new ArgumentException($"{w.Format}: inDim {inDim} is not a multiple of the block size {block}.", nameof(inDim));
        if (rows == 0 || outDim == 0) return;
        int blocks = inDim / 32;
        // Activation scratch: rows × inDim int8 quants, rows × blocks float scales, rows × blocks × 8 int group sums.
        long quantBytes = ((long)rows * inDim + 63) / 64 * 64;
        long need = quantBytes + 4L * rows * blocks + 32L * rows * blocks + 64;
        if (_scratch is null || _scratch.Length < need)
        {
            _scratch?.Dispose();
            _scratch = new NativeBuffer<byte>(need);
        }
        sbyte* xq = (sbyte*)_scratch.Pointer;
        int* xg = (int*)(_scratch.Pointer + quantBytes);
        float* xd = (float*)(xg + 8L * rows * blocks);
        for (int r = 0; r < rows; r++)
            QuantizeRow(x + (long)r * inDim, xq + (long)r * inDim, xd + (long)r * blocks, xg + 8L * r * blocks, blocks, path != QuantPath.Scalar);
        int items = (outDim + OutputsPerItem - 1) / OutputsPerItem;
        Workers.For(items, new Job { Y = y, Xq = xq, Xd = xd, Xg = xg, W = w, Rows = rows, In = inDim, Out = outDim, Path = path }, 1);
    }

    /// <summary>
    /// Blocks of 32: d = max|x| / 127, q = x · (1/d) rounded half to even and clamped to ±127 (0 for an all-zero block),
    /// g[k] = Σ q over elements 4k .. 4k+3. The vector and scalar loops perform the same exact operations.
    /// </summary>
    internal static void QuantizeRow(float* x, sbyte* q, float* d, int* g, int blocks, bool vector)
    {
        for (int b = 0; b < blocks; b++)
        {
            float* xb = x + 32 * b;
            sbyte* qb = q + 32 * b;
            int* gb = g + 8 * b;
            if (vector && Vector256.IsHardwareAccelerated)
            {
                var v0 = Vector256.Load(xb); var v1 = Vector256.Load(xb + 8);
                var v2 = Vector256.Load(xb + 16); var v3 = Vector256.Load(xb + 24);
                var m = Vector256.Max(Vector256.Max(Vector256.Abs(v0), Vector256.Abs(v1)), Vector256.Max(Vector256.Abs(v2), Vector256.Abs(v3)));
                var m4 = Vector128.Max(m.GetLower(), m.GetUpper());
                float amax = Math.Max(Math.Max(m4.GetElement(0), m4.GetElement(1)), Math.Max(m4.GetElement(2), m4.GetElement(3)));
                float scale = amax / 127f;
                var inv = Vector256.Create(scale != 0 ? 1f / scale : 0f);
                var lim = Vector256.Create(127f);
                var i0 = Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(Vector256.Round(v0 * inv), -lim), lim));
                var i1 = Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(Vector256.Round(v1 * inv), -lim), lim));
                var i2 = Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(Vector256.Round(v2 * inv), -lim), lim));
                var i3 = Vector256.ConvertToInt32(Vector256.Min(Vector256.Max(Vector256.Round(v3 * inv), -lim), lim));
                var s01 = Vector256.Narrow(i0, i1);
                var s23 = Vector256.Narrow(i2, i3);
                Vector256.Narrow(s01, s23).AsSByte().Store(qb);
                d[b] = scale;
            }
            else
            {
                float amax = 0;
                for (int i = 0; i < 32; i++) amax = Math.Max(amax, Math.Abs(xb[i]));
                float scale = amax / 127f;
                float inv = scale != 0 ? 1f / scale : 0f;
                for (int i = 0; i < 32; i++) qb[i] = (sbyte)Math.Clamp(MathF.Round(xb[i] * inv), -127f, 127f);
                d[b] = scale;
            }
            for (int k = 0; k < 8; k++) gb[k] = qb[4 * k] + qb[4 * k + 1] + qb[4 * k + 2] + qb[4 * k + 3];
        }
    }

    private struct Job : IParallelJob
    {
        public float* Y, Xd; public sbyte* Xq; public int* Xg; public WeightMatrix W; public int Rows, In, Out; public QuantPath Path;

        public void Execute(int start, int end)
        {
            int blocks = In / 32;
            long rowBytes = WeightMatrix.RowBytes(W.Format, In);
            int o0 = start * OutputsPerItem, o1 = Math.Min(Out, end * OutputsPerItem);
            if (Path != QuantPath.Scalar)
            {
                for (int o = o0; o < o1; o++)
                    for (int r = 0; r < Rows; r++)
                        Y[(long)r * Out + o] = QuantDot.Row(Path, W.Format, W.Data + o * rowBytes, Xq + (long)r * In, Xd + (long)r * blocks, Xg + 8L * r * blocks, blocks);
                return;
            }
            // Scalar: each weight row unpacked once to signed quants, scales and mins, reused for every activation row.
            sbyte* wq = stackalloc sbyte[In];
            float* scale = stackalloc float[2 * blocks];
            float* min = stackalloc float[blocks];
            bool hasMin = W.Format is MatrixFormat.Q4_K or MatrixFormat.Q5_K;
            for (int o = o0; o < o1; o++)
            {
                Unpack.Row(W.Format, W.Data + o * rowBytes, wq, scale, min, In);
                for (int r = 0; r < Rows; r++)
                    Y[(long)r * Out + o] = QuantDot.Scalar(wq, scale, min, hasMin, Xq + (long)r * In, Xd + (long)r * blocks, Xg + 8L * r * blocks, blocks);
            }
        }
    }
}
